"""The Anomalies and alerts page (its view: dashboards/views/alerts.py)."""

from dashboards.ui import frame
from dashboards.views import alerts

alerts.render(frame.page("Anomalies and alerts"))
