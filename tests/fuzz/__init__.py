"""Hardening tests: fuzzing, hostile edge input, response desync."""
