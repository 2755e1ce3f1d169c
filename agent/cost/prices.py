"""Default prices shipped with the agent, so costs are non-zero out of the box.

Assumptions (override them in the `cost:` config section; these are not quotes):
- GPU prices are rounded per-GPU on-demand hourly list prices of the specialist GPU clouds
  (Lambda, RunPod, Vast-style marketplaces' "secure" tier) as seen during 2024-2025, for one
  GPU of the named model. Hyperscaler per-GPU prices are often 1.5-3x higher; reserved
  capacity is lower. They include power and cooling (`includes_energy: true`).
- `cpu-core` is one vCPU-hour of a compute-optimised cloud instance (about USD 0.085/h
  for a 2-vCPU instance, i.e. ~0.04 per vCPU-hour), energy included.
- `energy_price_per_kwh` 0.15 USD is about the average US commercial electricity price;
  it is only used for device types whose hourly price excludes energy (own hardware).
- `gpu-default` prices a GPU whose model is in none of the entries (a warning is logged).

NVML reports names such as "NVIDIA A100-SXM4-80GB" or "NVIDIA H100 80GB HBM3"; a device
type matches the first entry whose key is contained in its name (case-insensitive),
longest keys first, after an exact match.
"""

from __future__ import annotations

DEFAULT_CURRENCY = "USD"
DEFAULT_ENERGY_PRICE_PER_KWH = 0.15
CPU_CORE = "cpu-core"
GPU_FALLBACK = "gpu-default"

# device type key -> USD per device-hour (energy included)
DEFAULT_PRICES_PER_HOUR: dict[str, float] = {
    "B200": 5.50,
    "H200": 3.50,
    "H100": 2.50,
    "GH200": 3.20,
    "A100-SXM4-80GB": 1.80,
    "A100": 1.30,
    "L40S": 0.90,
    "L40": 0.80,
    "A10G": 0.75,
    "A10": 0.60,
    "L4": 0.45,
    "A6000": 0.80,
    "RTX 4090": 0.40,
    "V100": 0.50,
    "T4": 0.30,
    GPU_FALLBACK: 1.00,
    CPU_CORE: 0.04,
}


def match_device_type(device_type: str, keys: list[str]) -> str | None:
    """The price key for a device type: exact match, else the longest key contained in it."""
    if device_type in keys:
        return device_type
    name = device_type.lower()
    for key in sorted(keys, key=len, reverse=True):
        if key.lower() in name:
            return key
    return None
