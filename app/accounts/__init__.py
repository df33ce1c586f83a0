"""Staff accounts: users, roles, passwords, API tokens, and who is asking."""
