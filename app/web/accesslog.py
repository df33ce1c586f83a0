"""Keeps credentials out of the access log: signed query parameters are written redacted.

uvicorn logs each request's path with its query string (`uvicorn.access`), and each
websocket handshake's (`uvicorn.error`: '"WebSocket /api/v1/events?token=..." [accepted]').
A WeChat push's `signature`, `timestamp` and `nonce` (and `msg_signature`, `echostr`)
would let whoever reads the log sign pushes of their own, and the events socket's
`token` is an API token.
"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
# uvicorn's websocket handshake lines go to its error logger.
LOGGERS = (ACCESS_LOGGER, "uvicorn.error")
# Query parameters whose values never reach a log line.
SECRET_PARAMS = ("signature", "msg_signature", "timestamp", "nonce", "echostr", "token")
_SECRET = re.compile(r"(?i)(?<=[?&])(" + "|".join(SECRET_PARAMS) + r")=[^&#\s]*")


def redact(path: str) -> str:
    """`path` with the values of SECRET_PARAMS replaced by `***`."""
    return _SECRET.sub(r"\1=***", path) if "?" in path else path


class RedactQuery(logging.Filter):
    """Rewrites the path arguments of uvicorn's records (access lines, websocket handshakes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(isinstance(a, str) and "?" in a for a in args):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        return True


def install() -> None:
    """Add the filter to uvicorn's loggers once per process."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQuery) for f in logger.filters):
            logger.addFilter(RedactQuery())
