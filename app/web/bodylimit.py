"""Request size caps, enforced while bytes arrive, never after a whole body was read.

HTTP: `create_app` passes `max_body_size` to FastAPI, whose body-limit middleware
(Starlette's `RequestBodyLimitMiddleware`) counts the bytes as the application reads them
and answers 413 the moment the count passes the cap, chunked bodies included. FastAPI
reads a JSON or form body before it runs the authentication dependency, so without it an
anonymous client could make the server hold any amount of memory. Webhooks read through
their own smaller cap (`max_webhook_bytes`, app/ingest/endpoints.py).

Websockets: a message is buffered by the server before the application sees it, so its
cap is the server's own setting, `SERVER_LIMITS`, which `huiliu serve` passes to uvicorn.
"""

from __future__ import annotations

from typing import Any

# The largest websocket message any client has reason to send: a widget frame holds at
# most 32,000 characters (channels/webchat/frames.py), up to 4 UTF-8 bytes each, plus
# its JSON envelope. uvicorn's default is 16 MiB, read whole before the 32,000 check.
WS_MAX_BYTES = 256 * 1024

# What `huiliu serve` passes to uvicorn besides the websocket protocol options.
SERVER_LIMITS: dict[str, Any] = {"ws_max_size": WS_MAX_BYTES}
