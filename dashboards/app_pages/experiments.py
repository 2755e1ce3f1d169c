"""The Experiments page (its view: dashboards/views/experiments.py)."""

from dashboards.ui import frame
from dashboards.views import experiments

experiments.render(frame.page("Experiments"))
