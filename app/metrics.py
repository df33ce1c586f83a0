"""Prometheus metrics (GET /metrics): requests, latency, ingest, deliveries, websockets."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("huiliu_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("huiliu_http_request_seconds", "HTTP request latency", ["method", "route"])
INGESTED = Counter(
    "huiliu_messages_ingested_total", "Inbound messages stored", ["channel_type", "outcome"]
)
# Pushes stored per transaction (app/ingest/batcher.py): small batches under load mean the
# per-transaction costs are paid often.
INGEST_BATCH = Histogram(
    "huiliu_ingest_batch_pushes",
    "Webhook pushes stored per ingest transaction",
    buckets=(1, 2, 4, 8, 16, 24, 32, 48, 64),
)
DELIVERIES = Counter(
    "huiliu_deliveries_total", "Outbound delivery attempts by outcome", ["outcome"]
)
WEBSOCKETS = Gauge("huiliu_open_websockets", "Open websocket connections", ["kind"])
