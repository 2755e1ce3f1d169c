"""The alert engine: Alertmanager's grouping, timers, inhibition and silences, kept durable."""
