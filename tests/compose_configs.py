"""The compose stack's files (deploy/compose.yaml and the configs it mounts), read as the
compose tool reads them, and rewritten for servers run here as processes: only host names,
ports and paths change."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import yaml

from alerts.rules.load import RULE_FILES

DEPLOY = Path(__file__).parents[1] / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"
AGENT_CONFIG = DEPLOY / "compose" / "inferwatch.yaml"
PROMETHEUS_CONFIG = DEPLOY / "compose" / "prometheus.yml"
ALERTMANAGER_CONFIG = DEPLOY / "compose" / "alertmanager.yml"
INFERWATCH_IMAGES = ("localhost/inferwatch:dev", "localhost/inferwatch-demo:dev")


def podman_compose_creates() -> dict[str, list[str]]:
    """podman-compose's own reading of the file: the `podman create` argv of each service.
    `--dry-run` only prints, but it still runs podman to look up volumes and networks (and
    would create them): `--podman-path /bin/true` makes those look-ups do nothing."""
    out = subprocess.run(
        ["podman-compose", "--dry-run", "--podman-path", "/bin/true", "-f", str(COMPOSE_FILE)]
        + ["up", "--no-build"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    creates = [shlex.split(line)[2:] for line in out.splitlines() if " create --name=" in line]
    return {_label(argv, "com.docker.compose.service"): argv for argv in creates}


def _label(argv: list[str], key: str) -> str:
    labels = [argv[i + 1] for i, a in enumerate(argv) if a == "--label"]
    [value] = [v.split("=", 1)[1] for v in labels if v.startswith(key + "=")]
    return value


def option_values(argv: list[str], option: str) -> list[str]:
    """Every value given to `option` (written `-o v`) in a podman argv."""
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == option]


def healthcheck(argv: list[str]) -> str:
    """The healthcheck command of a podman argv, as text ('' for none). The dry run prints
    argv joined by spaces, unquoted, so a command with spaces spans several items."""
    if "--healthcheck-command" not in argv:
        return ""
    start = argv.index("--healthcheck-command") + 1
    end = next(i for i in range(start, len(argv)) if argv[i].startswith("--healthcheck-"))
    return " ".join(argv[start:end])


def prometheus_config(agent: str, alertmanager: str) -> dict:
    """deploy/compose/prometheus.yml with the agent's and Alertmanager's HOST:PORT and the
    rule files' paths of this checkout."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    by_name = {p.name: str(p) for p in RULE_FILES}
    config["rule_files"] = [by_name[Path(p).name] for p in config["rule_files"]]
    [am] = config["alerting"]["alertmanagers"]
    am["static_configs"] = [{"targets": [alertmanager]}]
    [job] = config["scrape_configs"]
    job["static_configs"] = [{"targets": [agent]}]
    return config


def alertmanager_config(receiver_url: str) -> dict:
    """deploy/compose/alertmanager.yml with its receiver's URL pointed at `receiver_url`."""
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = receiver_url
    return config
