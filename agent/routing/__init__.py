"""Several upstreams behind one agent, and experiments (split, canary, shadow) between them."""
