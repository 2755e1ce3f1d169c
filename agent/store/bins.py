"""The store's rollup measures and log bins: what the writer counts per bucket, and the
bins quantiles are read from. The dashboard's data interface (`dashboards.data.api`)
answers in these same terms.
"""

from __future__ import annotations

import math

# The counts and sums every `totals` / `timeseries` row carries.
#   requests      requests in the range
#   errors        of those, status != "ok"
#   input_tokens  sum of prompt_tokens (unknown counts as 0)
#   output_tokens sum of completion_tokens (unknown counts as 0)
#   cost          sum of cost_amount over the requests whose cost is known
#   costed        requests whose cost is known
#   device_seconds, joules   sums of cost_device_seconds and cost_joules (unknown: 0)
#   safety_hits   sum of the verdicts' counts
#   latency_sum   sum of latency_s; ttft_sum / ttft_count over requests with a ttft
MEASURES = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cost",
    "costed",
    "device_seconds",
    "joules",
    "safety_hits",
    "latency_sum",
    "ttft_sum",
    "ttft_count",
)
# The measures that are counts (integers); the others are sums of seconds, currency, J.
INT_MEASURES = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "costed",
    "safety_hits",
    "ttft_count",
)

# Quantiles from rollups are read off log-spaced bins: bin b holds values in
# [2**(b/BINS_PER_OCTAVE), 2**((b+1)/BINS_PER_OCTAVE)), about 9% wide, so a quantile is
# within ~5% of the exact one. Values <= 0 fall in ZERO_BIN.
BINS_PER_OCTAVE = 8
ZERO_BIN = -(2**31)


def bin_of(value: float) -> int:
    """The log bin of a positive value (`ZERO_BIN` for zero or less)."""
    if value <= 0:
        return ZERO_BIN
    return math.floor(BINS_PER_OCTAVE * math.log2(value))


def bin_bounds(b: int) -> tuple[float, float]:
    """[low, high) of bin `b` (0, 0 for `ZERO_BIN`)."""
    if b == ZERO_BIN:
        return 0.0, 0.0
    return 2 ** (b / BINS_PER_OCTAVE), 2 ** ((b + 1) / BINS_PER_OCTAVE)
