"""Customers: identities, merge, owner, orders, important dates, tasks."""
