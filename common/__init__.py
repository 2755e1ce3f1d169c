"""Helpers every inferwatch package may use, importing none of them: secret masking,
child processes, the terminal banner. Kept apart so that `serving` (launching vLLM) and
`agent` (which wires serving in) never import each other both ways."""
