"""The campaigns pages' browser tests use the web tests' live server and Chromium."""

from tests.web.browser import browser, live

__all__ = ["browser", "live"]
