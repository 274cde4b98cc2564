"""Service-to-service RPC that cannot hang the caller.

    members = TimedRpcProxy("members")      # in a service class
    record = self.members.get(member_id)    # in a worker: answer, or ServiceTimeout

nameko's own ``RpcProxy`` waits for a reply forever. This one waits at most
``RPC_TIMEOUT_SECONDS`` (config), then raises ``ServiceTimeout`` (also raised at once
when the broker has no queue for the service: it never ran), which the RPC
entrypoint turns into an ``InternalError`` saying which service did not answer.
Errors the callee raises (``NotFound``...) come back as themselves.
"""
import eventlet
from nameko.exceptions import UnknownService
from nameko.rpc import RpcProxy

from shared.settings import settings_of


class ServiceTimeout(Exception):
    """The called service did not answer in time. Safe to show: it names no internals."""


class TimedRpcProxy(RpcProxy):
    def setup(self):
        self.timeout = settings_of(self.container).RPC_TIMEOUT_SECONDS

    def get_dependency(self, worker_ctx):
        return _TimedServiceProxy(super().get_dependency(worker_ctx), self.target_service,
                                  self.timeout)


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
