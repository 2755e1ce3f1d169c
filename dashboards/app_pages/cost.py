"""The Cost page (its view: dashboards/views/cost.py)."""

from dashboards.ui import frame
from dashboards.views import cost

cost.render(frame.page("Cost"))
