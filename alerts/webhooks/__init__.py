"""Webhook receivers: payload formats, signing, and delivery from a durable outbox."""
