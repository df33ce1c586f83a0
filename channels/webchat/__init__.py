"""Website chat widget (网页客服) connector. `connector` is what the registry holds."""

from channels.webchat.config import WebchatConfig
from channels.webchat.connector import WebchatConnector

connector = WebchatConnector()

__all__ = ["WebchatConfig", "WebchatConnector", "connector"]
