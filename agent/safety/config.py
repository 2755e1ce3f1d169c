"""The `safety:` configuration section: which filters run, and what each one does."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.safety.rules import BUILTIN_RULES, FAMILIES

Action = Literal["off", "flag", "redact", "block"]
Direction = Literal["input", "output"]
FLAG, REDACT, BLOCK, OFF = "flag", "redact", "block", "off"
# Not a rule: the verdict of a scan that stopped at `max_scan_bytes` (flag or block).
TRUNCATED = "scan.truncated"
_KNOWN = set(FAMILIES) | {r.name for r in BUILTIN_RULES} | {"blocklist.term", "scan", TRUNCATED}


class SafetyConfig(BaseModel):
    """Safety filters on prompts and completions (PII, secrets, prompt injection, blocklist)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Run the safety filters at all.")
    default_action: Action = Field(
        "flag", description="Action of every filter not named in `actions` (flag never blocks)."
    )
    actions: dict[str, Action] = Field(
        default_factory=dict,
        description="Action per family (`pii`, `secret`, `injection`, `blocklist`) or per filter"
        " (`pii.email`, `secret.openai_key`, ...); a filter's entry beats its family's."
        " `scan.truncated` (text past `max_scan_bytes`, or nested too deep to walk) takes `flag`"
        " or `block`; unset, it blocks in a direction where some filter blocks (else the"
        " unscanned text would get past that filter) and flags elsewhere.",
    )
    output_actions: dict[str, Action] = Field(
        default_factory=dict,
        description="Overrides of `actions` for completions only (same keys).",
    )
    directions: list[Direction] = Field(
        ["input", "output"],  # pydantic copies a default per instance
        description="What is filtered: `input` (prompts, messages) and/or `output` (completions).",
    )
    blocklist: list[str] = Field(
        default_factory=list,
        description="Words or phrases (case-insensitive, whole words) of the `blocklist.term` filter.",
    )
    capture_text: bool = Field(
        False,
        description="Keep prompt and completion text on the request record (always redacted first).",
    )
    text_descriptors: bool = Field(
        True,
        description="With capture off, keep descriptors of prompt and completion text (length,"
        " words, character classes; no text) on the record for drift detection, computed off"
        " the request path (with `enabled` on: the filters' stage computes them).",
    )
    capture_redact: list[str] = Field(
        default_factory=lambda: ["pii", "secret", "blocklist"],
        description="Families redacted from captured text, logs and error messages whatever their action.",
    )
    window_chars: int = Field(
        256,
        ge=32,
        le=65536,
        description="Streamed output held back for the sliding-window check (longest secret caught whole).",
    )
    max_scan_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Text scanned per request and direction (UTF-8 bytes); the rest is not"
        " scanned, the verdict `scan.truncated` says so (it blocks where some filter blocks,"
        " see `actions`), and captured text stops there.",
    )
    background_queue: int = Field(
        10_000, ge=1, description="Records waiting for the off-path (flag-only) scan."
    )

    @field_validator("actions", "output_actions")
    @classmethod
    def _known_keys(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - _KNOWN)
        if unknown:
            raise ValueError(f"unknown filter or family {unknown}; known: {sorted(_KNOWN)}")
        if REDACT in (v.get("scan"), v.get(TRUNCATED)):
            raise ValueError(
                f"{TRUNCATED} can be flag, block or off: unscanned text cannot be redacted"
            )
        return v

    def action(self, rule: str, direction: str) -> str:
        """The action of filter `rule` (e.g. `pii.email`) in `direction`."""
        return self.configured(rule, direction) or self.default_action

    def configured(self, rule: str, direction: str) -> str | None:
        """The action named for `rule` or its family in `direction`, or None when neither
        is named (the default action applies)."""
        family = rule.split(".", 1)[0]
        for table in (
            (self.output_actions, self.actions) if direction == "output" else (self.actions,)
        ):
            for key in (rule, family):
                if key in table:
                    return table[key]
        return None
