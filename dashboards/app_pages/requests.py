"""The Requests page (its view: dashboards/views/requests.py)."""

from dashboards.ui import frame
from dashboards.views import requests

requests.render(frame.page("Requests"))
