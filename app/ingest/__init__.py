"""The webhook edge: verify -> parse -> store idempotently -> acknowledge."""
