"""Customers: identities per channel, notes and tags, owner, orders, dates, tasks, merge."""
