"""A stand-in libnvidia-ml.so.1 (C source beside this file) and helpers to script it."""
