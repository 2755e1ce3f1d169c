"""Cost anomalies (robust baselines per hour of week) and budgets with thresholds and a forecast."""
