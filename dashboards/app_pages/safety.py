"""The Safety page (its view: dashboards/views/safety.py)."""

from dashboards.ui import frame
from dashboards.views import safety

safety.render(frame.page("Safety"))
