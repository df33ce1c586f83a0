"""Fake WeChat Official Account API and the pushes WeChat sends (tests, the demo)."""
