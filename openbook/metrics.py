"""Prometheus metrics for operators (`GET /metrics` on the API port and on WORKER_METRICS_PORT).

Labels never carry tenant content: routes are the route *templates*
(`/api/branches/{name}`), never the paths requested; deployments are counted
by status and trigger, never by site or workspace. docs/ops/runbook.md says
which metric answers which incident.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST

# One registry per process kind, so the API does not export the worker's series and back.
API = CollectorRegistry(auto_describe=True)
WORKER = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter("openbook_http_requests_total", "HTTP requests answered, by route template and status",
                        ["method", "route", "status"], registry=API)
HTTP_LATENCY = Histogram("openbook_http_request_seconds", "Time to answer an HTTP request, by route template",
                         ["method", "route"], registry=API,
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
OUTBOX_BACKLOG = Gauge("openbook_outbox_unpublished", "Outbox rows not yet sent to the stream (at last check)",
                       registry=API)
STREAM_PENDING = Gauge("openbook_stream_pending", "Stream entries delivered but not yet acknowledged",
                       registry=WORKER)

DEPLOYMENTS = Counter("openbook_deployments_finished_total", "Deployments this worker finished, by status",
                      ["status", "trigger"], registry=WORKER)
BUILD_PHASE = Histogram("openbook_build_phase_seconds", "Duration of each build phase",
                        ["phase"], registry=WORKER,
                        buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
BUILDS_KILLED = Counter("openbook_builds_killed_total", "Builds stopped by a resource limit, by limit",
                        ["limit"], registry=WORKER)
BACKEND_OUTAGES = Counter("openbook_backend_unavailable_total", "Times a backend was found unavailable",
                          ["backend"], registry=WORKER)


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus' text format."""
    return bytes(generate_latest(registry))
