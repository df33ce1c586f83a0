"""Prometheus metrics (GET /metrics): requests, latency, ingest, deliveries, websockets."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("huiliu_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("huiliu_http_request_seconds", "HTTP request latency", ["method", "route"])
INGESTED = Counter(
    "huiliu_messages_ingested_total", "Inbound messages stored", ["channel_type", "outcome"]
)
DELIVERIES = Counter(
    "huiliu_deliveries_total", "Outbound delivery attempts by outcome", ["outcome"]
)
WEBSOCKETS = Gauge("huiliu_open_websockets", "Open websocket connections", ["kind"])
