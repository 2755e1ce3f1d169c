"""The GPUs and vLLM page (its view: dashboards/views/gpus.py)."""

from dashboards.ui import frame
from dashboards.views import gpus

gpus.render(frame.page("GPUs and vLLM"))
