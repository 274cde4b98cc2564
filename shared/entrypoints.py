"""The RPC entrypoint every service uses: ``from shared.entrypoints import rpc``.

It differs from nameko's ``rpc`` in three ways a caller relies on:
- the worker's transaction is committed (or rolled back) *before* the reply is
  sent, so "done" means committed;
- a call with the wrong arguments is a ``ValidationError`` naming the argument,
  not nameko's ``IncorrectSignature``; an unknown method is ``NotFound``;
- only the contract's errors reach the caller; anything else is logged with a
  reference and sent as ``InternalError`` carrying only that reference;
- who may call is checked before a worker starts (``shared.access``: the caller's
  token against the client registry, its roles against the method's rule), and every
  change and every refusal is written to the service's audit trail (``shared.audit``),
  a change's entry in the change's own transaction.

``timer`` is nameko's timer with its interval taken from config.
"""
import functools
import inspect
import logging
import re
import sys
import uuid

import eventlet.semaphore
import sqlalchemy.exc
from nameko.exceptions import ContainerBeingKilled, MethodNotFound
from nameko.amqp.publish import Publisher
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY, DEFAULT_SERIALIZER, LOGIN_METHOD_CONFIG_KEY,
    SERIALIZER_CONFIG_KEY,
)
from nameko.rpc import Responder, Rpc, RpcConsumer, get_rpc_exchange
from nameko.timer import Timer

from shared import access, audit
from shared.consumers import SafeQueueConsumer
from shared.db import find_database, finish_unit_of_work
from shared.errors import CONTRACT_ERRORS, Forbidden, InternalError, NotFound, ValidationError
from shared.registry import Registry
from shared.rpc import ServiceTimeout
from shared.settings import settings_of

log = logging.getLogger(__name__)


# The database went away or refused a connection (a restart, a failover).
DATABASE_UNAVAILABLE = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.DisconnectionError)


def as_contract_error(exc_info, description):
    """Keep contract errors; turn anything else into a logged ``InternalError``."""
    if exc_info is None or isinstance(exc_info[1], CONTRACT_ERRORS):
        return exc_info
    reference = uuid.uuid4().hex[:12]
    if isinstance(exc_info[1], DATABASE_UNAVAILABLE):
        # An outage, not a bug: one line each (no traceback flood), and a caller told
        # what happened and that trying again later makes sense. Nothing was written.
        log.warning("database unavailable in %s, reference %s: %s", description, reference,
                    type(getattr(exc_info[1], "orig", None) or exc_info[1]).__name__)
        shown = "database unavailable, nothing was changed; try again"
    else:
        log.error("internal error %s in %s", reference, description, exc_info=exc_info)
        shown = str(exc_info[1]) if isinstance(exc_info[1], ServiceTimeout) else "internal error"
    try:
        raise InternalError(f"{shown}, reference {reference}")
    except InternalError:
        return sys.exc_info()


def signature_error(method, args, kwargs):
    """A ValidationError naming the argument that is missing or unexpected."""
    try:
        inspect.signature(method).bind(None, *args, **kwargs)
    except TypeError as exc:
        message = str(exc)
        match = re.search(r"'(\w+)'", message)
        field = match.group(1) if match else "_arguments"
        return ValidationError.field(field, message[:200])
    return ValidationError.field("_arguments", "Wrong arguments.")


class ReplyResponder(Responder):
    """nameko's RPC reply, published without waiting for a publisher confirm.

    The confirm round trip was half the cost of a bare call. The reply is sent after
    the commit either way; what a confirm would add is knowing that the broker took
    it, and if it did not (the connection broke just then) the caller's proxy is
    disconnected and its call fails with an error or its timeout, confirm or not.
    """

    publisher_cls = staticmethod(functools.partial(Publisher, use_confirms=False))


class ContractRpcConsumer(RpcConsumer):
    queue_consumer = SafeQueueConsumer()

    def handle_message(self, body, message):
        """As nameko's, but what fails before a worker starts (an unknown method, a
        request not shaped as ``{"args": [...], "kwargs": {...}}``) is answered with
        a contract error too, never nameko's ``MalformedRequest`` or a ``TypeError``."""
        routing_key = message.delivery_info["routing_key"]
        try:
            provider = self.get_provider_for_method(routing_key)
            provider.handle_message(body, message)
        except Exception:
            self.handle_result(message, None, as_contract_error(sys.exc_info(), routing_key))

    def handle_result(self, message, result, exc_info):
        if not message.properties.get("reply_to"):
            # No one to answer (a hand-made request): nameko's responder would raise
            # KeyError and kill the whole service. Whatever it was has been done.
            log.warning("an RPC request to %s had no reply_to; not answered",
                        message.delivery_info.get("routing_key"))
            self.queue_consumer.ack_message(message)
            return result, exc_info
        config = self.container.config
        responder = ReplyResponder(
            config[AMQP_URI_CONFIG_KEY], get_rpc_exchange(config),
            config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER), message,
            ssl=config.get(AMQP_SSL_CONFIG_KEY),
            login_method=config.get(LOGIN_METHOD_CONFIG_KEY))
        result, exc_info = responder.send_response(result, exc_info)
        self.queue_consumer.ack_message(message)
        return result, exc_info

    def on_undecodable(self, message, exc):
        """A request whose body is not JSON we can read: the caller hears why."""
        try:
            raise ValidationError.field(
                "_request", "Not readable JSON (malformed, or nested too deeply).")
        except ValidationError:
            self.handle_result(message, None, sys.exc_info())

    def get_provider_for_method(self, routing_key):
        try:
            return super().get_provider_for_method(routing_key)
        except MethodNotFound:
            raise NotFound(f"no method {routing_key}") from None


MAX_REQUEST_BYTES = 1024 * 1024


def request_size(raw):
    """The request's size in bytes. py-amqp hands over a body sent with a
    content_encoding already decoded to ``str``, whose length counts characters
    (up to 4 bytes each): encode unless it is plainly within the limit anyway."""
    if isinstance(raw, str):
        if len(raw) * 4 <= MAX_REQUEST_BYTES:
            return len(raw)
        return len(raw.encode("utf-8", "surrogatepass"))
    return len(raw or b"")


REFUSALS_BEING_WRITTEN = eventlet.semaphore.Semaphore(4)


class ContractRpc(Rpc):
    rpc_consumer = ContractRpcConsumer()
    registry = Registry()

    def __init__(self, expected_exceptions=CONTRACT_ERRORS, read_only=False, rule=None,
                 **kwargs):
        # "Expected": a contract error is an answer, not a fault of the service.
        super().__init__(expected_exceptions=expected_exceptions, **kwargs)
        # ``@rpc(read_only=True)``: a query. Its session reads without a transaction
        # (no BEGIN and COMMIT round trips) and refuses to write (shared.db).
        self.read_only = read_only
        # ``@rpc(rule=access.reads(...))``: who may call, for a method outside
        # shared.access.METHOD_RULES (a test's own service); else the table's.
        self.explicit_rule = rule
        self.rule = None

    def setup(self):
        service = self.container.service_name
        self.rule = self.explicit_rule or access.rule_for(service, self.method_name)
        if self.rule is None:
            raise RuntimeError(
                f"{service}.{self.method_name} has no access rule: add it to "
                "shared.access.METHOD_RULES (and to docs/contract.md's table)")
        self.method_key = f"{service}.{self.method_name}"
        method = getattr(self.container.service_cls, self.method_name)
        self.signature = inspect.signature(method)  # read once: bound on every call
        self.self_parameter = next(iter(self.signature.parameters))
        super().setup()

    def handle_message(self, body, message):
        if request_size(message.body) > MAX_REQUEST_BYTES:
            raise ValidationError.field("_request", f"Larger than {MAX_REQUEST_BYTES} bytes.")
        if not (isinstance(body, dict) and isinstance(body.get("args"), list)
                and isinstance(body.get("kwargs"), dict)):
            raise ValidationError.field(
                "_request", 'Must be an object {"args": [...], "kwargs": {...}}.')
        context_data = self.unpack_message_headers(message)
        caller = None
        try:
            if access.PUBLIC not in self.rule.roles:
                caller = self.registry.directory.resolve(context_data)
            arguments = self.bind_arguments(body["args"], body["kwargs"])
            arguments = access.authorize(self.rule, caller, self.method_key, arguments)
        except (Forbidden, NotFound) as refusal:
            self.record_refusal(caller, context_data, refusal)
            raise
        handle_result = functools.partial(self.handle_result, message, caller, arguments)
        try:
            worker_ctx = self.container.spawn_worker(
                self, [], arguments, context_data=context_data, handle_result=handle_result)
        except ContainerBeingKilled:
            self.rpc_consumer.requeue_message(message)
            return
        # The worker's green thread has not run yet (it starts when this one yields):
        # what it does is done as this caller (messages' actor, nested calls).
        worker_ctx.ekraf_caller = caller

    def bind_arguments(self, args, kwargs):
        """The call's arguments by parameter name, or a ValidationError naming the one
        that is missing or unexpected (nameko's answer would be IncorrectSignature)."""
        try:
            bound = self.signature.bind(None, *args, **kwargs)
        except TypeError:
            method = getattr(self.container.service_cls, self.method_name)
            raise signature_error(method, args, kwargs) from None
        arguments = dict(bound.arguments)
        arguments.pop(self.self_parameter, None)
        return arguments

    def record_refusal(self, caller, context_data, refusal):
        """Log and audit a call refused before any worker ran (nothing was changed)."""
        who = caller.client if caller is not None else "(no valid identity)"
        log.warning("refused %s for %s: %s", self.method_key, who, refusal)
        parents = context_data.get("call_id_stack") if isinstance(context_data, dict) else None
        stack = (list(parents) if isinstance(parents, list) else [])[-9:] + [
            f"{self.method_key}.refused"]
        entry = audit.make_entry(caller, self.method_key, [], type(refusal).__name__,
                                 [str(call_id)[:200] for call_id in stack], detail=str(refusal))
        # At most a few refusals written at once: a flood of bad calls must not take the
        # write connections real work needs. Beyond that they are logged, not audited.
        if not REFUSALS_BEING_WRITTEN.acquire(blocking=False):
            log.warning("refusal of %s not audited: too many refusals at once",
                        self.method_key)
            return

        def write():
            try:
                self.write_alone(entry)
            finally:
                REFUSALS_BEING_WRITTEN.release()

        self.container.spawn_managed_thread(write, identifier="audit")

    def write_alone(self, entry):
        try:
            audit.write_alone(find_database(self.container).engine, entry)
        except Exception as error:  # never let the trail's failure kill the service
            log.error("could not write an audit entry for %s (%s: %s)", entry["method"],
                      type(error).__name__, str(error).splitlines()[0][:200] if str(error) else "")

    def handle_result(self, message, caller, arguments, worker_ctx, result, exc_info):
        refused = False
        if exc_info is None:
            try:
                result = access.check_result(self.rule, caller, result, arguments)
            except NotFound:  # another member's record: the bound client is refused
                exc_info, refused = sys.exc_info(), True
        if exc_info is None and self.rule.changes:  # both commit, or neither
            exc_info = audit.record_in_transaction(
                find_database(self.container), worker_ctx, caller, self.method_key,
                audit.touched_records(arguments, result, worker_ctx))
        exc_info = finish_unit_of_work(worker_ctx, exc_info)
        exc_info = as_contract_error(exc_info, self.method_key)
        if exc_info is not None:
            result = None
            if self.rule.changes or refused or isinstance(exc_info[1], Forbidden):
                self.audit_failure(worker_ctx, caller, arguments, exc_info)
        try:
            return super().handle_result(message, worker_ctx, result, exc_info)
        except Exception as error:
            # The broker went away before the reply could be sent. nameko would let
            # this escape the worker and kill the whole service; instead the request,
            # never acked, is redelivered once the broker is back (callers then get
            # the answer of a retry: for a change already made, usually a Conflict).
            log.warning("could not reply to %s.%s (%s); the request will be redelivered",
                        self.container.service_name, self.method_name, type(error).__name__)
            return result, exc_info

    def audit_failure(self, worker_ctx, caller, arguments, exc_info):
        error = exc_info[1]
        detail = str(error) if isinstance(error, (Forbidden, NotFound)) else None
        self.write_alone(audit.make_entry(
            caller, self.method_key, audit.touched_records(arguments, None, None),
            type(error).__name__, worker_ctx.call_id_stack, detail=detail))


rpc = ContractRpc.decorator


class ConfiguredTimer(Timer):
    """nameko's timer with its interval the setting named (``shared.settings``), read
    at start, so operators (and tests) can change it:
    ``@timer("MEMBERSHIP_EXPIRY_CHECK_SECONDS")``."""

    def __init__(self, setting, **kwargs):
        self.setting = setting
        super().__init__(interval=None, **kwargs)

    def setup(self):
        self.interval = getattr(settings_of(self.container), self.setting)
        super().setup()

    def handle_result(self, worker_ctx, result, exc_info):
        """What a tick changed (the records its messages name) goes into the audit
        trail as the service's own change, in the tick's transaction."""
        touched = getattr(worker_ctx, "ekraf_touched", None)
        if exc_info is None and touched:  # on failure the tick's change rolls back
            exc_info = audit.record_in_transaction(
                find_database(self.container), worker_ctx, audit.caller_of(worker_ctx),
                f"{self.container.service_name}.{self.method_name}", list(touched))
        return super().handle_result(worker_ctx, result, exc_info)


timer = ConfiguredTimer.decorator
