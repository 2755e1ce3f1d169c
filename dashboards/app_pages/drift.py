"""The Drift page (its view: dashboards/views/drift.py)."""

from dashboards.ui import frame
from dashboards.views import drift

drift.render(frame.page("Drift"))
