"""Keeps credentials out of the access log: signed query parameters are written redacted.

uvicorn logs each request's path with its query string. A WeChat push's `signature`,
`timestamp` and `nonce` (and `msg_signature`, `echostr`) would let whoever reads the log
sign pushes of their own, and the events socket's `token` is an API token.
"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
# Query parameters whose values never reach a log line.
SECRET_PARAMS = ("signature", "msg_signature", "timestamp", "nonce", "echostr", "token")
_SECRET = re.compile(r"(?i)(?<=[?&])(" + "|".join(SECRET_PARAMS) + r")=[^&#\s]*")


def redact(path: str) -> str:
    """`path` with the values of SECRET_PARAMS replaced by `***`."""
    return _SECRET.sub(r"\1=***", path) if "?" in path else path


class RedactQuery(logging.Filter):
    """Rewrites uvicorn's access record (client, method, path, version, status) in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def install() -> None:
    """Add the filter to uvicorn's access logger once per process."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactQuery) for f in logger.filters):
        logger.addFilter(RedactQuery())
