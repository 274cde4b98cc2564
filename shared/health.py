"""What ``health()`` reports, and how operators and docker-compose ask for it.

Every service answers the ``health`` RPC (see ``shared.observability``)::

    {"service": "members", "status": "ok" | "degraded",
     "database": {"ok": true} | {"ok": false, "error": "OperationalError"},
     "broker": {"ok": true} | {"ok": false, "error": "..."},
     "outbox_backlog": 0,        # messages committed, not yet confirmed by the broker
     "dead_letters": 0}          # messages parked in <service>.dead-letter

``python -m shared.health SERVICE`` asks it over RabbitMQ and exits 0 only when the
service answers ``ok`` within the timeout: docker-compose's healthcheck. It runs
with the service's own environment, so it calls under a short-lived identity of its
own in the client registry (role ``operator``), dropped as soon as it has its answer.
"""
import logging

import sqlalchemy as sa
from kombu import Connection
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider

from shared.db import find_database
from shared.dead_letters import parked_count
from shared.outbox import Outbox
from shared.settings import settings_of

log = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 3


class HealthProbe(DependencyProvider):
    """Checks the service's own database and broker; one per service process."""

    def setup(self):
        self.service_name = self.container.service_name
        self.amqp_uri = settings_of(self.container).AMQP_URI
        self.database = find_database(self.container)
        self.outbox = next((dependency for dependency in self.container.dependencies
                            if isinstance(dependency, Outbox)), None)

    def get_dependency(self, worker_ctx):
        return self

    def report(self):
        database, broker = self._check(self._ping_database), self._check(self._ping_broker)
        backlog = self._quietly(self.outbox_backlog) if database["ok"] else None
        parked = self._quietly(self.dead_letter_depth) if broker["ok"] else None
        healthy = database["ok"] and broker["ok"]
        return {"service": self.service_name, "status": "ok" if healthy else "degraded",
                "database": database, "broker": broker, "outbox_backlog": backlog,
                "dead_letters": parked}

    def outbox_backlog(self):
        """Outbox rows not yet confirmed by the broker; None for a service that
        publishes nothing (notifications)."""
        return None if self.outbox is None else self.outbox.relay.pending_count()

    def dead_letter_depth(self):
        """Messages parked; 0 for a service that handles no messages (members), which
        has no dead-letter queue."""
        if not any(isinstance(entrypoint, EventHandler)
                   for entrypoint in self.container.entrypoints):
            return 0
        return parked_count(self.amqp_uri, self.service_name, CHECK_TIMEOUT_SECONDS)

    def _ping_database(self):
        with self.database.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    def _ping_broker(self):
        with Connection(self.amqp_uri, connect_timeout=CHECK_TIMEOUT_SECONDS) as connection:
            connection.connect()

    @staticmethod
    def _check(ping):
        try:
            ping()
            return {"ok": True}
        except Exception as error:  # the reason, never a connection string
            return {"ok": False, "error": type(error).__name__}

    @staticmethod
    def _quietly(read):
        try:
            return read()
        except Exception:
            return None


def main(argv=None):
    """``python -m shared.health SERVICE [--timeout S]``: exit 0 when it is healthy."""
    import argparse
    import json
    import sys

    from nameko.standalone.rpc import ClusterRpcProxy

    from shared import registry
    from shared.access import OPERATOR
    from shared.config import load_config
    from shared.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m shared.health")
    parser.add_argument("service")
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    config = load_config()
    engine = client_id = None
    try:
        engine = registry.open_registry(Settings.from_config(config))
        client_id, token = registry.start_service_identity(
            engine, "healthcheck", roles=(OPERATOR,))
        with ClusterRpcProxy(config, timeout=args.timeout,
                             context_data={"auth_token": token}) as rpc:
            report = getattr(rpc, args.service).health()
    except Exception as error:
        print(f"{args.service}: no answer ({type(error).__name__})", file=sys.stderr)
        return 1
    finally:
        if client_id is not None:
            registry.end_service_identity(engine, client_id)
        if engine is not None:
            engine.dispose()
    print(json.dumps(report))
    return 0 if report.get("status") == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
