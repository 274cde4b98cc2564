"""Prometheus metrics of a service process, served on ``METRICS_ADDRESS``.

Every service exposes (each with a ``service`` label):

- ``ekraf_rpc_duration_seconds{method, outcome}``: a histogram per RPC method;
  ``outcome`` is ``ok`` or the contract error's name (``NotFound``, ...), so its
  values are few and known;
- ``ekraf_handler_duration_seconds{handler, outcome}``: the same for message handlers;
- ``ekraf_handler_failures_total{handler}``: handler runs that failed (each one is
  retried or parked);
- ``ekraf_handler_retries_total{queue}`` and ``ekraf_messages_parked_total{queue}``:
  messages sent to a retry queue, or to the dead-letter queue;
- ``ekraf_outbox_backlog`` and ``ekraf_dead_letter_depth``: read when scraped
  (the outbox rows not yet confirmed by the broker; the messages parked).

``METRICS_ADDRESS`` is ``host:port``; unset or empty, nothing is served (several
services on one host each need a port of their own; docker-compose gives each
container ``0.0.0.0:9100``).
"""
import logging
import time

import eventlet
from eventlet import wsgi
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.events import EventHandler
from prometheus_client import REGISTRY, Counter, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily

from shared.errors import CONTRACT_ERRORS
from shared.settings import settings_of

log = logging.getLogger(__name__)

# Latencies from a millisecond (a cached read) to tens of seconds (a stuck call).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

RPC_DURATION = Histogram("ekraf_rpc_duration_seconds", "RPC calls handled, by method",
                         ["service", "method", "outcome"], buckets=BUCKETS)
HANDLER_DURATION = Histogram("ekraf_handler_duration_seconds", "Messages handled, by handler",
                             ["service", "handler", "outcome"], buckets=BUCKETS)
HANDLER_FAILURES = Counter("ekraf_handler_failures_total",
                           "Handler runs that failed (then retried or parked)",
                           ["service", "handler"])
HANDLER_RETRIES = Counter("ekraf_handler_retries_total",
                          "Messages sent to a retry queue after a failure", ["service", "queue"])
MESSAGES_PARKED = Counter("ekraf_messages_parked_total",
                          "Messages parked in the dead-letter queue", ["service", "queue"])


def outcome_of(exc_info):
    if exc_info is None:
        return "ok"
    error = exc_info[1]
    return type(error).__name__ if isinstance(error, CONTRACT_ERRORS) else "error"


class _ScrapeTimeGauges:
    """Outbox backlog and dead-letter depth, read from the database and the broker
    each time Prometheus scrapes (a reading that cannot be had is left out)."""

    def __init__(self, service_name, probe):
        self.service_name, self.probe = service_name, probe

    def collect(self):
        backlog = GaugeMetricFamily("ekraf_outbox_backlog",
                                    "Outbox messages not yet confirmed by the broker",
                                    labels=["service"])
        depth = GaugeMetricFamily("ekraf_dead_letter_depth",
                                  "Messages parked in the service's dead-letter queue",
                                  labels=["service"])
        try:
            value = self.probe.outbox_backlog()
            if value is not None:
                backlog.add_metric([self.service_name], value)
        except Exception as error:  # the database away: the gauge is absent this time
            log.warning("metrics: outbox backlog unreadable (%s)", type(error).__name__)
        try:
            depth.add_metric([self.service_name], self.probe.dead_letter_depth())
        except Exception as error:
            log.warning("metrics: dead-letter depth unreadable (%s)", type(error).__name__)
        yield backlog
        yield depth


class Metrics(DependencyProvider):
    """Times every worker and serves /metrics; see the module's docstring."""

    def __init__(self, probe_attribute="health_probe"):
        self.probe_attribute = probe_attribute

    def setup(self):
        self.service_name = self.container.service_name
        self.started = {}
        self.address = settings_of(self.container).METRICS_ADDRESS
        self._server = self._gauges = None

    def start(self):
        if not self.address:
            return
        host, _, port = self.address.rpartition(":")
        try:
            listener = eventlet.listen((host or "0.0.0.0", int(port)))
        except OSError as error:  # a busy port must not keep the service from running
            log.error("metrics: cannot listen on %s (%s); no metrics served",
                      self.address, error)
            return
        probe = next(dependency for dependency in self.container.dependencies
                     if dependency.attr_name == self.probe_attribute)
        self._gauges = _ScrapeTimeGauges(self.service_name, probe)
        REGISTRY.register(self._gauges)
        app = make_wsgi_app(REGISTRY)
        self._server = self.container.spawn_managed_thread(
            lambda: wsgi.server(listener, app, log_output=False), identifier="metrics")
        log.info("metrics served on %s/metrics", self.address)

    def stop(self):
        if self._server is not None:
            self._server.kill()
        if self._gauges is not None:
            REGISTRY.unregister(self._gauges)
            self._gauges = None

    kill = stop

    def worker_setup(self, worker_ctx):
        self.started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        started = self.started.pop(worker_ctx, None)
        if started is None:
            return
        elapsed = time.perf_counter() - started
        entrypoint = worker_ctx.entrypoint
        name = entrypoint.method_name
        if isinstance(entrypoint, Rpc):
            RPC_DURATION.labels(self.service_name, name, outcome_of(exc_info)).observe(elapsed)
        elif isinstance(entrypoint, EventHandler):
            HANDLER_DURATION.labels(self.service_name, name,
                                    outcome_of(exc_info)).observe(elapsed)
            if exc_info is not None:
                HANDLER_FAILURES.labels(self.service_name, name).inc()

    def worker_teardown(self, worker_ctx):
        self.started.pop(worker_ctx, None)  # a worker that never reached its result
