"""What every service has for operators: ``class MembersService(observability.Observable)``.

(Import the module, not the class: ``nameko run`` takes every class with entrypoints
it finds in a service's module for a service.)

- the ``health`` RPC (``shared.health``): database and broker reachable, outbox
  backlog, dead-letter depth;
- the ``audit_log`` RPC (``shared.audit``): the service's trail, read-only;
- Prometheus metrics on ``METRICS_ADDRESS`` (``shared.metrics``);
- the worker context in JSON log lines (``shared.logs``).
"""
from shared import audit
from shared.entrypoints import rpc
from shared.health import HealthProbe
from shared.logs import LogContext
from shared.metrics import Metrics


class Observable:
    health_probe = HealthProbe()
    metrics = Metrics(probe_attribute="health_probe")
    log_context = LogContext()

    @rpc
    def health(self):
        return self.health_probe.report()

    @rpc(read_only=True)
    def audit_log(self, filters=None):
        return audit.list_entries(self.db, self.name, filters)
