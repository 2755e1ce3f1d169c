"""`GET /inferwatch/experiments[/NAME[/gate]]`: the running experiment, its comparison and
its gate as JSON, for people, for the dashboard, and as a gate for Argo Rollouts' web
metric provider (`jsonPath: "{$.decision}"`) and Flagger's webhooks (any answer but 2xx
fails the check).

The gate answers 200 with its decision in the body (Argo Rollouts: `successCondition:
result == "pass"`, `failureCondition: result == "fail"`); with `?enforce=1` a failed gate
answers 412 (Flagger), and with `?require=pass` too, anything but a pass does. Results are computed in a
thread and kept `CACHE_S` seconds: a busy poller cannot make the agent recompute them on
every call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from aiohttp import web

from agent.errors import error_response
from agent.routing import analysis
from agent.routing.canary import FAIL, PASS, Canary, Look
from agent.routing.config import ExperimentConfig
from agent.routing.router import Router
from agent.store.experiments import ExperimentLog

CACHE_S = 10.0
PREFIX = "/inferwatch/experiments"


class ExperimentsAPI:
    """The handlers; `store` is the store's path (None: the store is off, nothing to read)."""

    def __init__(
        self,
        experiment: ExperimentConfig | None,
        router: Router,
        canary: Canary | None,
        store: Path | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._exp, self._router, self._canary, self._store = experiment, router, canary, store
        self._events = ExperimentLog(store) if store is not None else None
        self._clock = clock
        # Keys are ("report", name) of experiments the store knows, and ("gate", name, step
        # start) of the running one: bounded, old steps' entries are dropped as they go.
        self._cache: dict[tuple, tuple[float, object]] = {}
        self._locks: dict[tuple, asyncio.Lock] = {}

    def routes(self) -> list[tuple[str, str, Callable]]:
        """(method, path, handler); the gate also takes POST, as Flagger's webhooks send."""
        gate = PREFIX + "/{name}/gate"
        return [
            ("GET", PREFIX, self.list),
            ("GET", PREFIX + "/{name}", self.detail),
            ("GET", gate, self.gate),
            ("POST", gate, self.gate),
        ]

    async def list(self, request: web.Request) -> web.Response:
        """The configured experiment with its routing state, and those the store recalls."""
        past = await asyncio.to_thread(self._events.names) if self._events else []
        current = [self._state()] if self._exp is not None else []
        names = {e["name"] for e in current}
        body = {
            "experiments": current + [{"name": n, "running": False} for n in past if n not in names]
        }
        return _json(body)

    async def detail(self, request: web.Request) -> web.Response:
        """One experiment: its state (when running) and the whole comparison."""
        name = request.match_info["name"]
        arms = await self._arms(name)
        if isinstance(arms, web.Response):
            return arms
        current = self._exp is not None and name == self._exp.name
        kind = self._exp.kind if current and self._exp is not None else None
        store = self._store
        assert store is not None
        report = await self._cached(
            ("report", name), lambda: analysis.report(store, name, *arms, kind=kind)
        )
        body = {"name": name, "control": arms[0], "variant": arms[1], "report": report}
        if self._exp is not None and name == self._exp.name:
            body["state"] = self._state()
        return _json(body)

    async def gate(self, request: web.Request) -> web.Response:
        """The gate's decision (pass, fail, continue) with its reasons."""
        name = request.match_info["name"]
        if self._exp is None or name != self._exp.name:
            return error_response(404, f"no running experiment named {name}", "not_found")
        if self._store is None:
            return error_response(409, "the gate reads the store, which is off", "store_off")
        # A canary is gated step by step: each share puts its own load on the variant.
        since = self._canary.step_started_at if self._canary is not None else 0.0
        exp, store = self._exp, self._store
        key = ("gate", name, since)  # a new canary step is a new window, not a cached one
        look = await self._cached(key, lambda: analysis.gate_look(store, exp, since))
        assert isinstance(look, Look)
        body = {
            "experiment": name,
            "decision": look.decision,
            "reason": look.reason,
            "n": {"control": look.n[0], "variant": look.n[1]},
            "gate": look.detail,
        }
        # 200 by default, the decision in the body: Argo Rollouts' web provider takes any
        # other status for an error of the measurement, not a failed gate. `enforce` makes
        # a failed gate 412 (Flagger's webhooks fail on any non-2xx); `require=pass` fails
        # until the variant is shown no worse.
        need = request.query.get("require")
        failed = look.decision == FAIL or (need == PASS and look.decision != PASS)
        enforce = request.query.get("enforce", "") not in ("", "0", "false")
        return _json(body, status=412 if failed and enforce else 200)

    async def _arms(self, name: str) -> tuple[str, str] | web.Response:
        if self._store is None:
            return error_response(
                409, "experiments are compared from the store, which is off", "store_off"
            )
        if self._exp is not None and name == self._exp.name:
            return self._exp.control, self._exp.variant
        assert self._events is not None
        arms = await asyncio.to_thread(self._events.arms, name)
        if arms is None:
            return error_response(404, f"no experiment named {name}", "not_found")
        return arms

    async def _cached(self, key: tuple, compute: Callable[[], object]) -> object:
        """`compute()` in a thread, or its result of under CACHE_S ago. One computation per
        key at a time: pollers arriving together wait for it rather than each starting one
        (a report's bootstrap takes a core for a fraction of a second)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit = self._cache.get(key)
            if hit is not None and self._clock() - hit[0] < CACHE_S:
                return hit[1]
            value = await asyncio.to_thread(compute)
            for old in [k for k in self._cache if k[:2] == key[:2] and k != key]:
                del self._cache[old]  # a canary's earlier steps
                self._locks.pop(old, None)
            self._cache[key] = (self._clock(), value)
            return value

    def _state(self) -> dict:
        exp = self._exp
        assert exp is not None
        state: dict = {
            "name": exp.name,
            "running": True,
            "kind": exp.kind,
            "control": exp.control,
            "variant": exp.variant,
            "sticky": exp.sticky,
            "shares": self._router.shares(),
        }
        if exp.kind == "shadow":
            state["shadow"] = exp.shadow.model_dump()
        c = self._canary
        if c is not None:
            last = c.last
            state["canary"] = {
                "state": c.state,
                "step": c.step,
                "steps": [s.model_dump() for s in exp.steps],
                "started_at": c.started_at,
                "step_started_at": c.step_started_at,
                "last_look": None
                if last is None
                else {"decision": last.decision, "reason": last.reason},
            }
        return state


def _json(body: dict, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
        content_type="application/json",
    )
