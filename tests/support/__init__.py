"""Shared test helpers: a test connector, a running server, API factories."""
