"""Conversations and messages: actions (writes), queries (reads), access (the gate)."""
