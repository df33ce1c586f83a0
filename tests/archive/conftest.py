"""The `run` fixture (the real `huiliu` command in a subprocess) for the command tests."""

from tests.test_cli import run

__all__ = ["run"]
