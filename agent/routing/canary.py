"""The canary controller: moves the variant's share through the configured steps, each
held at least its `hold_s` and gated on the comparison with the control; a failed gate
sends all of the pair's traffic back to the control at once, counts a rollback and writes
it to the store (where the alert engine finds it).

The gate looks every `gate.check_every_s` at the records since the current step started, through
an always-valid confidence sequence, so looking often does not inflate false alarms. A
step advances when its hold is over and the gate passed, or (unless `require_pass`) when
the gate has enough data and nothing failed. What was decided is kept in the store's
`experiment_events`, so a restarted agent resumes the canary where it was: a rolled-back
canary stays rolled back until its configuration changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.routing.config import ExperimentConfig
from agent.routing.router import Router
from agent.store import experiments as ev
from agent.store.experiments import ExperimentLog

log = logging.getLogger("inferwatch.canary")

RUNNING, COMPLETED, PROMOTED, ROLLED_BACK = "running", "completed", "promoted", "rolled_back"
STATES = (RUNNING, COMPLETED, PROMOTED, ROLLED_BACK)
PASS, FAIL, CONTINUE = "pass", "fail", "continue"


@dataclass(frozen=True)
class Look:
    """One look of the gate: `decision` (pass, fail or continue), a one-line `reason`,
    the gate's JSON, and the arms' sizes (control, variant)."""

    decision: str
    reason: str
    detail: dict = field(default_factory=dict)
    n: tuple[int, int] = (0, 0)


class Canary:
    """Runs one canary experiment over `router` (see the module docstring)."""

    def __init__(
        self,
        experiment: ExperimentConfig,
        router: Router,
        events: ExperimentLog,
        evaluate: Callable[[float], Look],
        instruments: dict,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`evaluate(since)` looks at the arms since `since` (blocking: run in a thread)."""
        self.exp, self._router, self._events = experiment, router, events
        self._evaluate, self._clock = evaluate, clock
        self.state, self.step = RUNNING, 0
        self.started_at = self.step_started_at = 0.0
        self.last: Look | None = None
        i = instruments
        self._step_gauge = i["inferwatch_experiment_canary_step"].labels(experiment.name)
        self._state_gauge = i["inferwatch_experiment_canary_state"]
        self._rollbacks = i["inferwatch_experiment_rollbacks_total"].labels(experiment.name)
        self._weights = i["inferwatch_experiment_variant_weight_ratio"]
        self._task: asyncio.Task | None = None

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Resume from the store (or start at step 1), then look every `check_every_s`."""
        await asyncio.to_thread(self._resume)
        self._apply()
        self._task = asyncio.create_task(self._loop(), name=f"canary-{self.exp.name}")

    async def stop(self) -> None:
        """Stop looking (the share stays where it is until the agent stops)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.exp.gate.check_every_s)
            try:
                await self.tick()
            except Exception:  # a broken look must not end the canary's watch
                log.exception("canary gate look failed", extra={"experiment": self.exp.name})

    # ---- one look -----------------------------------------------------------------------

    async def tick(self) -> None:
        """One look of the gate, and what follows from it."""
        if self.state != RUNNING:
            return
        # The current step's records only: each share puts its own load on the variant, and
        # a confidence sequence assumes the arms' mix does not change under it.
        look = await asyncio.to_thread(self._evaluate, self.step_started_at)
        changed = self.last is None or look.decision != self.last.decision
        self.last = look
        if look.decision == FAIL:
            await asyncio.to_thread(self._roll_back, look)
        elif self._may_advance(look):
            await asyncio.to_thread(self._advance, look)
        elif changed:
            await asyncio.to_thread(self._note, ev.GATE, look)
        self._apply()

    def _may_advance(self, look: Look) -> bool:
        held = self._clock() - self.step_started_at >= self.exp.steps[self.step - 1].hold_s
        if not held:
            return False
        if look.decision == PASS:
            return True
        enough = min(look.n) >= self.exp.gate.min_requests
        return look.decision == CONTINUE and enough and not self.exp.gate.require_pass

    # ---- transitions (blocking: the store is written) ------------------------------------

    def _roll_back(self, look: Look) -> None:
        # The reason is in the message itself: a log reader without the extra fields
        # (a plain formatter, pytest's captured log) still sees why.
        log.warning(
            "canary %s rolled back at step %d, all traffic to the control: %s",
            self.exp.name,
            self.step,
            look.reason,
            extra={"experiment": self.exp.name, "reason": look.reason, "step": self.step},
        )
        self._note(ev.ROLLED_BACK, look)
        self.state, self.step = ROLLED_BACK, 0
        self._rollbacks.inc()

    def _advance(self, look: Look) -> None:
        if self.step < len(self.exp.steps):
            self.step += 1
            self.step_started_at = self._clock()
            self._note(ev.STEP, look)
            log.info("canary step", extra={"experiment": self.exp.name, "step": self.step})
            return
        self.state = PROMOTED if self.exp.promote else COMPLETED
        self._note(ev.PROMOTED if self.exp.promote else ev.COMPLETED, look)
        log.info("canary " + self.state, extra={"experiment": self.exp.name})

    def _note(self, event: str, look: Look | None) -> None:
        detail: dict[str, object] = {"control": self.exp.control, "variant": self.exp.variant}
        if look is not None:
            detail |= {"decision": look.decision, "reason": look.reason, "gate": look.detail}
            detail["n"] = list(look.n)
        self._events.add(self.exp.name, event, self.step, self.share, detail, self._clock())

    def _resume(self) -> None:
        """The canary's state from the store's events since its last `started` with this
        very configuration; a new start (step 1) otherwise."""
        config = self.exp.model_dump(mode="json")
        events = self._events.events(self.exp.name)
        starts = [i for i, e in enumerate(events) if e.event == ev.STARTED]
        if not starts or events[starts[-1]].detail.get("config") != config:
            now = self._clock()
            self.started_at = self.step_started_at = now
            kind = {"kind": self.exp.kind, "control": self.exp.control, "variant": self.exp.variant}
            self._events.add(self.exp.name, ev.STARTED, 0, 0.0, kind | {"config": config}, now)
            self.step = 1
            self._note(ev.STEP, None)
            return
        self.started_at = events[starts[-1]].at
        for e in events[starts[-1] :]:
            if e.event == ev.STEP:
                self.step, self.step_started_at = e.step or 1, e.at
            elif e.event == ev.ROLLED_BACK:
                self.state, self.step = ROLLED_BACK, 0
            elif e.event in (ev.PROMOTED, ev.COMPLETED):
                self.state = PROMOTED if e.event == ev.PROMOTED else COMPLETED
        log.info(
            "canary resumed",
            extra={"experiment": self.exp.name, "state": self.state, "step": self.step},
        )

    # ---- the share, as routed and as exported ---------------------------------------------

    @property
    def share(self) -> float:
        """The variant's share of its control's traffic now, in percent."""
        if self.state == ROLLED_BACK or self.step == 0:
            return 0.0
        if self.state == PROMOTED:
            return 100.0
        return self.exp.steps[self.step - 1].weight

    def _apply(self) -> None:
        self._router.set_variant_share(self.share)
        self._step_gauge.set(self.step)
        for state in STATES:
            self._state_gauge.labels(self.exp.name, state).set(1 if state == self.state else 0)
        for name, percent in self._router.shares().items():
            self._weights.labels(self.exp.name, name).set(percent / 100.0)
