"""The customer record's writes: customers, orders, dates and tasks, and their events."""
