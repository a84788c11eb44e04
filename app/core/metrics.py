"""Prometheus metrics: request counts and latencies by route template (never by raw path), and
the audit rows that could not be written."""

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "csledger_http_requests_total",
            "HTTP requests by method, route and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "csledger_http_request_duration_seconds",
            "HTTP request latency by method and route.",
            ["method", "route"],
            registry=self.registry,
        )
        self.audit_rows_unwritten = Counter(
            "csledger_audit_rows_unwritten_total",
            "Audit rows the database would not take (most likely away), kept in the log "
            "instead: any increase deserves an alert.",
            registry=self.registry,
        )

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
