"""Labelled synthetic request histories for the drift benchmarks (record-frame contract).

Traffic has daily and weekly seasonality in volume (peak mid-afternoon, weekends at 60%);
per request: token lengths log-normal, latency from tokens plus noise, TTFT from the
prompt, cost from tokens, a finish reason, an HTTP status, safety hits, three models and
five tenants. A `Shift` changes one thing by a known amount, so every window is labelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

MODELS = ("llama-8b", "qwen-7b", "mistral-7b")
MODEL_SHARES = np.array([0.5, 0.3, 0.2])
TENANTS = ("acme", "globex", "initech", "umbrella", "hooli")
TENANT_SHARES = np.array([0.35, 0.25, 0.2, 0.12, 0.08])


@dataclass(frozen=True)
class Shift:
    """A labelled change: completion/latency mean factors, and a tenant-mix move."""

    completion_mean: float = 1.0
    latency_mean: float = 1.0
    tenant_mix: float = 0.0  # share moved from the largest tenant to the smallest


def hourly_volume(hour: int, mean_per_hour: float) -> int:
    """Requests in hour `hour` of the history (hour 0 is Monday 00:00)."""
    daily = 1 + 0.6 * math.sin(2 * math.pi * ((hour % 24) - 9) / 24)
    weekly = 0.6 if (hour // 24) % 7 >= 5 else 1.0
    return max(1, round(mean_per_hour * daily * weekly / 0.886))  # 0.886: the mean of both


def records(
    n: int, rng: np.random.Generator, sigma: float = 0.5, shift: Shift = Shift()
) -> pd.DataFrame:
    """`n` requests; completion tokens log-normal with log-sd `sigma`, mean ~250."""
    tenant_p = TENANT_SHARES.copy()
    tenant_p[0] -= shift.tenant_mix
    tenant_p[-1] += shift.tenant_mix
    model = rng.choice(len(MODELS), n, p=MODEL_SHARES)
    prompt = np.round(np.exp(rng.normal(6.0, 0.9, n)))
    mu = math.log(250) - sigma**2 / 2 + np.array([0.0, 0.2, -0.2])[model]
    completion = np.maximum(1, np.round(np.exp(rng.normal(mu, sigma)) * shift.completion_mean))
    ttft = (0.05 + prompt * 4e-5) * rng.lognormal(0, 0.2, n)
    tpot = np.array([0.018, 0.022, 0.02])[model] * rng.lognormal(0, 0.1, n) * shift.latency_mean
    status = rng.choice([200, 400, 429, 500], n, p=[0.97, 0.01, 0.01, 0.01])
    ok = status == 200
    finish = np.where(ok, rng.choice(["stop", "length"], n, p=[0.88, 0.12]), None)
    filters = rng.choice(["", "pii", "secrets", "pii,secrets"], n, p=[0.93, 0.05, 0.015, 0.005])
    return pd.DataFrame(
        {
            "wall_time": np.zeros(n),
            "tenant": np.array(TENANTS)[rng.choice(len(TENANTS), n, p=tenant_p)],
            "model": np.array(MODELS)[model],
            "operation": "chat",
            "status": np.where(ok, "ok", "error"),
            "http_status": status,
            "stream": rng.random(n) < 0.7,
            "prompt_tokens": prompt,
            "completion_tokens": np.where(ok, completion, np.nan),
            "latency_s": np.where(ok, ttft + tpot * completion, ttft),
            "ttft_s": ttft,
            "tpot_s": np.where(ok, tpot, np.nan),
            "cost_amount": (prompt * 1e-7 + completion * 4e-7) * np.where(ok, 1.0, 0.0),
            "cost_currency": "USD",
            "finish_reason": finish,
            "safety_hits": (filters != "").astype(int),
            "safety_filters": filters,
        }
    )
