"""Service-to-service RPC that cannot hang the caller.

    members = TimedRpcProxy("members")      # in a service class
    record = self.members.get(member_id)    # in a worker: answer, or ServiceTimeout

nameko's own ``RpcProxy`` waits for a reply forever. This one waits at most
``RPC_TIMEOUT_SECONDS`` (config), then raises ``ServiceTimeout`` (also raised at once
when the broker has no queue for the service: it never ran), which the RPC
entrypoint turns into an ``InternalError`` saying which service did not answer.
Errors the callee raises (``NotFound``...) come back as themselves.

The call is made as this service process (its own token from the client registry,
``shared.registry``), never with the token of the client being served: nameko would
forward every header it received, but the callee must see who is really asking.
The served client's name goes along as ``on_behalf_of``, for the callee's trail.
"""
import eventlet
from nameko.exceptions import UnknownService
from nameko.rpc import RpcProxy

from shared.audit import caller_of
from shared.registry import Registry
from shared.settings import settings_of


class ServiceTimeout(Exception):
    """The called service did not answer in time. Safe to show: it names no internals."""


class TimedRpcProxy(RpcProxy):
    registry = Registry()

    def setup(self):
        self.timeout = settings_of(self.container).RPC_TIMEOUT_SECONDS

    def get_dependency(self, worker_ctx):
        acting = _AsThisService(worker_ctx, self.registry.token)
        return _TimedServiceProxy(super().get_dependency(acting), self.target_service,
                                  self.timeout)


class _AsThisService:
    """What nameko's proxy reads of a worker context (its container, and the context
    data it sends as headers), with this process's identity in place of the caller's."""

    def __init__(self, worker_ctx, token):
        self.container = worker_ctx.container
        self._worker_ctx = worker_ctx
        self._token = token

    @property
    def context_data(self):
        data = dict(self._worker_ctx.context_data)  # call_id_stack, user_id, language...
        data["auth_token"] = self._token
        caller = caller_of(self._worker_ctx)
        served = caller.on_behalf_of or (caller.client if caller.kind == "client" else None)
        if served:
            data["on_behalf_of"] = served
        else:
            data.pop("on_behalf_of", None)
        return {key: value for key, value in data.items() if value is not None}


class _TimedServiceProxy:
    def __init__(self, service_proxy, service_name, timeout):
        self._service_proxy = service_proxy
        self._service_name = service_name
        self._timeout = timeout

    def __getattr__(self, method_name):
        method = getattr(self._service_proxy, method_name)

        def call(*args, **kwargs):
            try:
                reply = method.call_async(*args, **kwargs)
            except UnknownService:  # no queue for it on the broker: it never ran here
                raise ServiceTimeout(f"{self._service_name}.{method_name} did not answer: "
                                     f"no {self._service_name} service is running") from None
            with eventlet.Timeout(self._timeout, False):
                return reply.result()
            raise ServiceTimeout(
                f"{self._service_name}.{method_name} did not answer within {self._timeout:g}s")

        return call
