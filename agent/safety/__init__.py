"""Safety filters on prompts and completions: PII, secrets, prompt injection, a blocklist."""
