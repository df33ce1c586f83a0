"""Huiliu (汇流): the product — storage, rules, live updates, pages."""
