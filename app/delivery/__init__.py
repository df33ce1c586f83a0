"""Outbound: queued message -> connector.send -> status -> event (transactional outbox)."""
