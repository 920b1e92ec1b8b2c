"""Prometheus metrics, in a registry of their own (no process-global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "facetag_http_requests", "HTTP requests", ["route", "status"], registry=self.registry
        )
        self.http_seconds = Histogram(
            "facetag_http_seconds", "HTTP latency", ["route"], registry=self.registry
        )
        self.jobs = Counter("facetag_jobs", "Jobs run", ["task", "outcome"], registry=self.registry)
        self.job_seconds = Histogram("facetag_job_seconds", "Job duration", ["task"], registry=self.registry)
        self.media = Counter("facetag_media", "Media processed", ["kind", "outcome"], registry=self.registry)
        self.faces = Counter("facetag_faces_detected", "Faces detected", registry=self.registry)
        self.bytes_in = Counter(
            "facetag_bytes_ingested", "Bytes streamed into storage", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
