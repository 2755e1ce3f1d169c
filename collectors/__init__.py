"""Periodic collectors (NVML GPUs, host, vLLM scrape) and the registry that runs them."""
