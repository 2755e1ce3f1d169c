"""The Overview page (its view: dashboards/views/overview.py)."""

from dashboards.ui import frame
from dashboards.views import overview

overview.render(frame.page("Overview"))
