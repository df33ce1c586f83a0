"""Customers: contacts, their identities per channel, notes and tags."""
