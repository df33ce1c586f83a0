"""The web pages: sign-in, the agent inbox, CSRF, login rate limit, presence."""
