#!/usr/bin/env bash
# bench/gpu_check.sh: the agent's NVML collector and energy-based cost on a real GPU (issue 22).
#
# THE ONE COMMAND A GPU SESSION RUNS (from the repo root, after `bash bench/gpu_wheels.sh`
# on a machine with PyPI has filled the git-ignored bench/.gpu-wheels):
#
#   run(command="set -o pipefail; bash bench/gpu_check.sh 2>&1 | tee $OUT/gpu_check.log",
#       carry=["bench/.gpu-wheels"], timeout_s=420)
#
# (about 5 minutes on the machine with the default 180 s of load; add `--duration 60` to a
# rerun when little device time is left). Everything lands in $OUT: gpu_report.md (the
# figures, with the card named), gpu_samples.jsonl (raw paired readings), gpu_pairs.csv,
# gpu_load.json, gpu_run.json, agent.log, server.log (8 files with the tee'd log: the most
# the device tool brings back). Then copy the report's figures into BENCHMARKS.md.
#
# What it does: installs the agent's missing wheels offline into a --target folder (the GPU
# machine's python3 is itself a venv, so a `venv --system-site-packages` made from it would
# not see its torch), builds the tiny model as `inferwatch model tiny` does, starts
# bench/gpu_server.py (transformers on CUDA) and the agent in front of it (`up --upstream`,
# NVML collector on the real libnvidia-ml, cost on with the GPU priced per busy GPU-second
# plus energy, store on, safety off), drives bench/gpu_load.py for --duration seconds while
# bench/gpu_sample.py reads /metrics and nvidia-smi together every --interval seconds, waits
# for the cost engine to release every record, stops both, and writes the report with
# bench/gpu_compare.py. Each step fails fast with the reason.
#
# --dry-run: the same pipeline on a machine without a GPU: torch on the CPU, the NVML
# stand-in the tests compile (tests/nvml_stub, needs gcc) driven by bench/gpu_fake.py, and
# a stand-in nvidia-smi (bench/gpu_fake_smi.py) reading the same stand-in's values; no
# install unless --with-wheels (the current interpreter must hold transformers, and without
# --with-wheels the agent's dependencies too).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bash bench/gpu_check.sh [--dry-run] [--duration S] [--interval S] [--concurrency N]
                               [--out DIR] [--help]

  --dry-run        run on this machine with the NVML stand-in and a stand-in nvidia-smi
  --with-wheels    in a dry run, install from the wheel folder too (as on the GPU machine)
  --duration S     seconds of load (default 180)
  --interval S     seconds between paired samples (default 5)
  --concurrency N  clients at once (default 8)
  --out DIR        where the report and raw samples go (default $OUT, else bench/.gpu-out)

Environment: PYTHON (default python3), GPU_PRICE_PER_HOUR (default 2.50),
ENERGY_PRICE_PER_KWH (default 0.15), GPU_WHEELS (default bench/.gpu-wheels).
EOF
}

DRY=0 WHEELS_TOO=0 DURATION=180 INTERVAL=5 CONCURRENCY=8 DEST="${OUT:-}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --with-wheels) WHEELS_TOO=1 ;;
    --duration) DURATION="$2"; shift ;;
    --interval) INTERVAL="$2"; shift ;;
    --concurrency) CONCURRENCY="$2"; shift ;;
    --out) DEST="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_check: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

REPO="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python3}"
DEST="${DEST:-$REPO/bench/.gpu-out}"
WHEELS="${GPU_WHEELS:-$REPO/bench/.gpu-wheels}"
COLLECTOR_INTERVAL=1
WORK="$(mktemp -d -t gpu-check-XXXXXX)"
PIDS=()
mkdir -p "$DEST"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
T0=$SECONDS

say() { echo "[gpu_check $((SECONDS - T0))s] $*"; }
die() {
  echo "gpu_check: FAILED: $*" >&2
  for f in "$WORK/agent.log" "$WORK/server.log"; do
    [[ -s "$f" ]] && { echo "--- last lines of $f" >&2; tail -n 20 "$f" >&2; }
  done
  exit 1
}
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for f in agent.log server.log; do [[ -f "$WORK/$f" ]] && cp "$WORK/$f" "$DEST/" || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ---- 1. the Python packages ---------------------------------------------------------------
export PYTHONPATH="$REPO"
if [[ $DRY -eq 0 || $WHEELS_TOO -eq 1 ]]; then
  [[ -f "$WHEELS/requirements.txt" ]] || die "no $WHEELS/requirements.txt: run bash bench/gpu_wheels.sh on a machine with PyPI, and carry bench/.gpu-wheels"
  say "installing $(wc -l < "$WHEELS/requirements.txt") wheels offline from $WHEELS"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
    --find-links "$WHEELS" --target "$WORK/site" -r "$WHEELS/requirements.txt" || die "offline install failed"
  export PYTHONPATH="$REPO:$WORK/site"
fi
"$PY" -c 'import agent.cli, agent.app, torch, transformers, pynvml' 2>"$WORK/import.err" \
  || die "imports failed ($PY): $(tail -n 3 "$WORK/import.err")"

# ---- 2. the GPU (or its stand-ins) ---------------------------------------------------------
NVML_LIB=""
if [[ $DRY -eq 1 ]]; then
  command -v gcc >/dev/null || die "the dry run needs gcc to build the NVML stand-in"
  NVML_LIB="$("$PY" -c 'import sys; from pathlib import Path; from tests.nvml_stub.stub import build; print(build(Path(sys.argv[1])))' "$WORK")"
  export NVML_STUB_CONFIG="$WORK/nvml.txt"
  mkdir -p "$WORK/bin"
  printf '#!/bin/sh\nexec "%s" -m bench.gpu_fake_smi "$@"\n' "$PY" > "$WORK/bin/nvidia-smi"
  chmod +x "$WORK/bin/nvidia-smi"
  export PATH="$WORK/bin:$PATH"
fi
command -v nvidia-smi >/dev/null || die "nvidia-smi is not on PATH"
if [[ $DRY -eq 0 ]]; then  # the driver's library by path where the loader's cache knows it
  NVML_LIB="$(ldconfig -p 2>/dev/null | awk '/libnvidia-ml\.so\.1 .*x86-64/ {print $NF; exit}')"
  for lib in /usr/local/nvidia/lib64/libnvidia-ml.so.1 /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1; do
    [[ -z "$NVML_LIB" && -e "$lib" ]] && NVML_LIB="$lib"
  done
  say "NVML library: ${NVML_LIB:-default search}"
fi

# ---- 3. the model and the server -----------------------------------------------------------
say "building the tiny model"
"$PY" -m agent.cli model tiny "$WORK/model" > "$WORK/model.log" 2>&1 || die "model build: $(tail -n 5 "$WORK/model.log")"
SERVER_PORT="$(free_port)" AGENT_PORT="$(free_port)"
"$PY" -m bench.gpu_server --model "$WORK/model" --name tiny --port "$SERVER_PORT" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!; PIDS+=("$SERVER_PID")
"$PY" -m bench.gpu_wait up "http://127.0.0.1:$SERVER_PORT/health" 120 || die "the server did not start"
DEVICE="$(sed -n 's/^gpu_server: .* on \([a-z]*\),.*/\1/p' "$WORK/server.log" | head -n 1)"
[[ $DRY -eq 1 || "$DEVICE" == cuda ]] || die "torch sees no GPU (the server runs on ${DEVICE:-?})"
if [[ $DRY -eq 1 ]]; then
  "$PY" -m bench.gpu_fake --script "$NVML_STUB_CONFIG" --pid "$SERVER_PID" > "$WORK/fake.log" 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 50); do [[ -f "$NVML_STUB_CONFIG" ]] && break; sleep 0.1; done
fi
CARD="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)"
DRIVER="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -n 1)"
[[ -n "$CARD" ]] || die "nvidia-smi names no GPU"
say "server pid $SERVER_PID on $DEVICE; card: $CARD, driver $DRIVER"

# ---- 4. the agent ---------------------------------------------------------------------------
"$PY" - "$WORK" "$CARD" "$NVML_LIB" "$COLLECTOR_INTERVAL" <<'EOF' || die "could not write the config"
import json, os, sys
work, card, lib, interval = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
price = {"per_hour": float(os.environ.get("GPU_PRICE_PER_HOUR", "2.50")), "includes_energy": False}
cfg = {
    "logging": {"level": "WARNING"},
    "safety": {"enabled": False},
    "store": {"dir": f"{work}/data"},
    "collectors": {"interval_s": interval, **({"nvml_library": lib} if lib else {})},
    "cost": {"enabled": True, "basis": "busy", "prices": {card: price},
             "energy_price_per_kwh": float(os.environ.get("ENERGY_PRICE_PER_KWH", "0.15"))},
}
open(f"{work}/agent.json", "w").write(json.dumps(cfg, indent=2))  # JSON is YAML
EOF
"$PY" -m agent.cli up --upstream "http://127.0.0.1:$SERVER_PORT" --listen "127.0.0.1:$AGENT_PORT" \
  --config "$WORK/agent.json" > "$WORK/agent.log" 2>&1 &
AGENT_PID=$!; PIDS+=("$AGENT_PID")
AGENT="http://127.0.0.1:$AGENT_PORT"
"$PY" -m bench.gpu_wait up "$AGENT/health" 60 || die "the agent did not become healthy"
"$PY" -m bench.gpu_wait metric "$AGENT" hw_gpu_utilization_ratio 20 || die "the agent's NVML collector exposes no GPU"
"$PY" - "$WORK/agent.json" "$DEST/gpu_run.json" <<EOF
import json, sys
cfg = json.load(open(sys.argv[1]))
price = next(iter(cfg["cost"]["prices"].values()))
json.dump({"card": "$CARD", "driver": "$DRIVER", "device": "$DEVICE", "dry_run": bool($DRY),
           "server_pid": $SERVER_PID, "collector_interval_s": $COLLECTOR_INTERVAL,
           "duration_s": $DURATION, "interval_s": $INTERVAL, "concurrency": $CONCURRENCY,
           "gpu_price_per_hour": price["per_hour"],
           "energy_price_per_kwh": cfg["cost"]["energy_price_per_kwh"]}, open(sys.argv[2], "w"), indent=2)
EOF

# ---- 5. load and paired samples -------------------------------------------------------------
say "load for ${DURATION}s (concurrency $CONCURRENCY), a paired sample every ${INTERVAL}s"
rm -f "$DEST/gpu_samples.jsonl"
"$PY" -m bench.gpu_sample --agent "$AGENT" --out "$DEST/gpu_samples.jsonl" --interval "$INTERVAL" \
  --duration "$DURATION" > "$WORK/sample.log" 2>&1 &
SAMPLER=$!; PIDS+=("$SAMPLER")
"$PY" -m bench.gpu_load --url "$AGENT" --model tiny --out "$DEST/gpu_load.json" \
  --duration "$DURATION" --concurrency "$CONCURRENCY" || die "no request succeeded"
wait "$SAMPLER" || die "the sampler failed: $(tail -n 5 "$WORK/sample.log")"
"$PY" -m bench.gpu_wait drained "$AGENT" 60 || die "records still held after 60 s"
sleep "$COLLECTOR_INTERVAL"; sleep 1  # one more tick: the released costs on /metrics
"$PY" -m bench.gpu_sample --agent "$AGENT" --out "$DEST/gpu_samples.jsonl" --once > /dev/null

# ---- 6. stop, then the report -------------------------------------------------------------
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || true  # SIGTERM: the store flushes and closes
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true
say "comparing"
"$PY" -m bench.gpu_compare --samples "$DEST/gpu_samples.jsonl" --run "$DEST/gpu_run.json" \
  --store "$WORK/data/requests.sqlite3" --load "$DEST/gpu_load.json" \
  --report "$DEST/gpu_report.md" --pairs "$DEST/gpu_pairs.csv" || die "the comparison failed"
say "done in $((SECONDS - T0)) s: $DEST/gpu_report.md"
