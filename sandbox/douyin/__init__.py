"""Fake Douyin open-platform API and the events Douyin pushes (tests, the demo)."""
