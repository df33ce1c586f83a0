"""Fixtures for the web page tests: a restartable live server and Chromium."""

from tests.web.browser import browser, live

__all__ = ["browser", "live"]
