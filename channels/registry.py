"""Channel type -> connector. A plain dict: adding a channel adds one line here."""

from __future__ import annotations

from channels.base import Connector

CONNECTORS: dict[str, Connector] = {}


def get(channel_type: str) -> Connector | None:
    return CONNECTORS.get(channel_type)
