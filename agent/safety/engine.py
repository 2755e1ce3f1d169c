"""The safety engine: rules and actions compiled once, applied to request and response bodies.

`inspect_request` / `inspect_response` run inline (only when some filter redacts or
blocks); `scan_texts` is the same check for the off-path, flag-only scan. Each reads at
most `max_scan_bytes` of text per direction of a request; past that the verdict
`scan.truncated` (flag or block) says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from agent.record import SafetyVerdict
from agent.safety import fields, walk
from agent.safety import text as slots
from agent.safety.budget import Budget
from agent.safety.config import BLOCK, FLAG, OFF, REDACT, TRUNCATED, SafetyConfig
from agent.safety.rules import BUILTIN_RULES, blocklist_rule
from agent.safety.scanner import Hit, Scanner, placeholder, redact

INPUT, OUTPUT = "input", "output"
CUT_MARK = "[TRUNCATED]"  # ends captured text that went past the scan budget
POLICY_CODE = "content_policy_violation"
FINISH_BLOCKED = "content_filter"  # OpenAI's finish_reason for filtered output


@dataclass(frozen=True, slots=True)
class Block:
    """Why a request or response was refused: the filter and an OpenAI-style error.
    `reason` replaces the default message; `param` names the request field at fault."""

    filter: str
    direction: str
    reason: str = ""
    param: str | None = None

    @property
    def message(self) -> str:
        return self.reason or f"{self.direction} blocked by safety policy: {self.filter}"

    def error(self) -> dict:
        """The OpenAI error envelope for a blocked request (HTTP 400)."""
        return {
            "error": {
                "message": self.message,
                "type": "invalid_request_error",
                "param": self.param,
                "code": POLICY_CODE,
                "policy": self.filter,
            }
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """What inspecting a body found: verdicts, whether it was rewritten, and a block if any."""

    verdicts: tuple[SafetyVerdict, ...] = ()
    redacted: bool = False
    block: Block | None = None


def _truncated_action(config: SafetyConfig, direction: str, table: dict[str, str]) -> str:
    """`scan.truncated` as configured; unset, `block` where some filter blocks: else text
    past the budget (or nested too deep) would carry what that filter refuses straight
    through. Unscanned text cannot be redacted: a redact default flags it."""
    act = config.configured(TRUNCATED, direction)
    if act is None:
        act = BLOCK if BLOCK in table.values() else config.default_action
    return FLAG if act == REDACT else act


def _refusal(direction: str, reason: str, param: str) -> Decision:
    """The decision refusing a request for a field the filters cannot read."""
    block = Block(fields.UNREADABLE, direction, reason, param)
    return Decision((SafetyVerdict(fields.UNREADABLE, direction, BLOCK, 1),), block=block)


def verdicts_of(counts: Counter, direction: str) -> tuple[SafetyVerdict, ...]:
    """Verdicts from a Counter of (filter, action) pairs."""
    return tuple(
        SafetyVerdict(filter=f, direction=direction, action=a, count=n)
        for (f, a), n in sorted(counts.items())
    )


class SafetyEngine:
    """Compiled rules plus the action of each filter per direction; stateless, shared."""

    def __init__(self, config: SafetyConfig) -> None:
        self.config = config
        rules = list(BUILTIN_RULES)
        extra = blocklist_rule(config.blocklist)
        if extra is not None:
            rules.append(extra)
        names = {r.name for r in rules}
        self._actions: dict[str, dict[str, str]] = {
            d: {n: config.action(n, d) for n in names}
            for d in (INPUT, OUTPUT)
            if config.enabled and d in config.directions
        }
        live = [r for r in rules if any(t.get(r.name, OFF) != OFF for t in self._actions.values())]
        self.budget = config.max_scan_bytes
        self._scanner = Scanner(live)
        capture = [r for r in rules if r.family in config.capture_redact]
        self._capture_scanner = Scanner(capture)
        self.window = config.window_chars
        # Asked several times per request: answered once here (the actions never change).
        self._enabled = {d: any(a != OFF for a in t.values()) for d, t in self._actions.items()}
        for d, table in self._actions.items():
            table[TRUNCATED] = _truncated_action(config, d, table) if self._enabled[d] else OFF
        self._inline = {
            d: any(a in (REDACT, BLOCK) for a in t.values()) for d, t in self._actions.items()
        }

    # ---- what runs where ----------------------------------------------------------------

    def enabled(self, direction: str) -> bool:
        """Some filter is on for `direction`."""
        return self._enabled.get(direction, False)

    def inline(self, direction: str) -> bool:
        """Some filter redacts or blocks in `direction`: it must run on the request path."""
        return self._inline.get(direction, False)

    def action(self, filter_name: str, direction: str) -> str:
        """The configured action of one filter in one direction."""
        return self._actions.get(direction, {}).get(filter_name, OFF)

    # ---- scanning -----------------------------------------------------------------------

    def scan(self, text: str, direction: str = INPUT) -> list[Hit]:
        """Every hit of a filter that is on in `direction`."""
        table = self._actions.get(direction, {})
        return [h for h in self._scanner.scan(text) if table.get(h.filter, OFF) != OFF]

    def scan_texts(
        self, texts: Iterable[str], direction: str, budget: Budget | None = None
    ) -> tuple[SafetyVerdict, ...]:
        """Verdicts for a few texts (the off-path check: counts only, nothing changed),
        within `budget` (a fresh one of `max_scan_bytes` by default)."""
        budget = budget if budget is not None else Budget(self.budget)
        counts: Counter = Counter()
        for t in texts:
            for h in self.scan(budget.take(t), direction):
                counts[(h.filter, self.action(h.filter, direction))] += 1
        self._note_cut(counts, budget, direction)
        return verdicts_of(counts, direction) if counts else ()  # the usual case: no hit

    def redact_for_capture(self, text: str) -> str:
        """`text` with every PII, secret and blocklist hit masked, whatever the actions;
        cut at `max_scan_bytes` (what was not scanned is not kept)."""
        budget = Budget(self.budget)
        head = budget.take(text)
        out = redact(head, self._capture_scanner.scan(head), placeholder)
        return out + CUT_MARK if budget.truncated else out

    def _note_cut(self, counts: Counter, budget: Budget, direction: str) -> Block | None:
        """Count a truncated scan under `scan.truncated`; a Block when its action blocks."""
        act = self.action(TRUNCATED, direction)
        if not budget.truncated or act == OFF:
            return None
        counts[(TRUNCATED, act)] += 1
        return Block(TRUNCATED, direction) if act == BLOCK else None

    # ---- inline checks on bodies --------------------------------------------------------

    def check_fields(self, body: dict, operation: str) -> Decision | None:
        """A refusal when an output filter redacts or blocks and `body` asks for output it
        cannot rewrite (logprobs, token ids: `agent.safety.fields`); else None. Reads a
        few top-level keys only."""
        if not self.inline(OUTPUT):
            return None
        found = fields.output_field(body, operation)
        return _refusal(OUTPUT, *found) if found is not None else None

    def inspect_request(self, body: dict, operation: str) -> Decision:
        """Check every string of a request body that vLLM renders into the prompt;
        redactions are written into `body` in place. A prompt given as token ids or
        embeddings is refused: the filters cannot read it."""
        found = walk.request_walk(body, operation)
        if found.unreadable is not None:
            return _refusal(INPUT, *fields.input_field(*found.unreadable))
        return self._inspect(found.slots, INPUT, found.too_deep)

    def inspect_response(self, obj: dict) -> Decision:
        """Check a non-streamed response; redacts in place, or on a block empties the choices'
        text and sets their finish_reason to `content_filter`."""
        found = slots.response_slots(obj)
        decision = self._inspect(found, OUTPUT)
        if decision.redacted or decision.block is not None:
            slots.drop_tokens(obj)  # refused when asked for; here in case they came anyway
        if decision.block is not None:
            for slot in found:
                slots.write(slot, "")
            for choice in obj.get("choices") or ():
                if isinstance(choice, dict):
                    choice["finish_reason"] = FINISH_BLOCKED
        return decision

    def _inspect(self, found: list, direction: str, too_deep: bool = False) -> Decision:
        counts: Counter = Counter()
        block = None
        redacted = False
        budget = Budget(self.budget)
        budget.truncated = too_deep  # text nested past walk.MAX_DEPTH went unscanned too
        for slot in found:
            text = slots.read(slot)
            head = budget.take(text)  # hits lie within it, so they index `text` as they are
            if not head and budget.left <= 0 and budget.truncated:
                break  # spent: nothing after this is scanned either
            hits = self.scan(head, direction) if head else ()
            if not hits:
                continue
            mask = []
            for h in hits:
                act = self.action(h.filter, direction)
                counts[(h.filter, act)] += 1
                if act == BLOCK and block is None:
                    block = Block(h.filter, direction)
                elif act == REDACT:
                    mask.append(h)
            if mask:
                slots.write(slot, redact(text, mask, placeholder))
                redacted = True
        cut = self._note_cut(counts, budget, direction)
        return Decision(verdicts_of(counts, direction), redacted, block or cut)
