"""JSON log lines that let one request be followed across services.

config.yml's LOGGING uses ``JsonFormatter`` (``LOG_FORMAT=plain`` for the old
one-line text). Each line is one JSON object::

    {"time": "2026-11-28T10:41:07.123Z", "level": "INFO", "service": "members",
     "logger": "ekraf.calls", "message": "rpc register ok 8.1 ms",
     "call_id": "members.register.5f0c...",
     "call_id_stack": ["standalone_rpc_proxy.call.1d2e...", "members.register.5f0c..."],
     "event_id": null, "duration_ms": 8.1, "outcome": "ok"}

(``emitted_event_id``, ``event_type``, ``duration_ms``, ``outcome`` and ``exception``
appear on the lines they concern.) ``CALL_LOG_LEVEL=WARNING`` silences the per-call
lines.

``call_id_stack`` is nameko's chain of calls (an RPC made while handling another
carries its caller's stack). Messages go through the outbox, so the chain stops
there; the ``event_id`` joins it again: the worker that records a message logs
``emitted_event_id``, and every worker handling that message logs it as ``event_id``.

``LogContext`` (a dependency every service has, see ``shared.observability``) keeps
the current worker's context for the formatter, and logs one ``ekraf.calls`` line
per RPC call and per handled message: the method, the outcome and the time taken,
never the arguments (they hold personal data).
"""
import json
import logging
import threading
import time
from datetime import datetime, timezone

from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc

from shared.metrics import outcome_of

calls_log = logging.getLogger("ekraf.calls")
_current = threading.local()  # green-thread local once eventlet has patched threading
_process = {"service": None}


def current_context():
    """``(call_id_stack, event_id)`` of the worker running in this green thread."""
    return getattr(_current, "call_id_stack", None), getattr(_current, "event_id", None)


class JsonFormatter(logging.Formatter):
    def format(self, record):
        call_id_stack, event_id = current_context()
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc)
                            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "service": _process["service"],
            "logger": record.name,
            "message": record.getMessage(),
            "call_id": call_id_stack[-1] if call_id_stack else None,
            "call_id_stack": call_id_stack,
            "event_id": getattr(record, "event_id", None) or event_id,
        }
        for extra in ("emitted_event_id", "event_type", "duration_ms", "outcome"):
            if hasattr(record, extra):
                line[extra] = getattr(record, extra)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class LogContext(DependencyProvider):
    def setup(self):
        _process["service"] = self.container.service_name

    def worker_setup(self, worker_ctx):
        _current.call_id_stack = worker_ctx.call_id_stack
        _current.event_id = _event_id(worker_ctx)
        _current.started = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        entrypoint = worker_ctx.entrypoint
        kind = ("rpc" if isinstance(entrypoint, Rpc) else
                "message" if isinstance(entrypoint, EventHandler) else None)
        if kind is None:  # timers, HTTP: their own logs say enough
            return
        elapsed_ms = round((time.perf_counter() - getattr(_current, "started", 0)) * 1000, 1)
        outcome = outcome_of(exc_info)
        calls_log.info("%s %s %s %.1f ms", kind, entrypoint.method_name, outcome, elapsed_ms,
                       extra={"duration_ms": elapsed_ms, "outcome": outcome})

    def worker_teardown(self, worker_ctx):
        _current.__dict__.clear()


def _event_id(worker_ctx):
    if not isinstance(worker_ctx.entrypoint, EventHandler) or not worker_ctx.args:
        return None
    body = worker_ctx.args[0]
    return body.get("event_id") if isinstance(body, dict) else None
