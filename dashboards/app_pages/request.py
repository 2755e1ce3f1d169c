"""The Request page (its view: dashboards/views/request.py)."""

from dashboards.ui import frame
from dashboards.views import request

request.render(frame.page("Request"))
