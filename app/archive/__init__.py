"""Supervisor search, export, and the audit log."""
