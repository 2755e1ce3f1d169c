"""Launching and supervising vLLM, and offline model provisioning."""
