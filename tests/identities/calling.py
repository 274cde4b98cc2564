"""Calling the running services as one client or another (tests.support.identities
makes the clients, in the run's own registry), and what the answers say."""
import secrets
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone

from nameko.standalone.rpc import ClusterRpcProxy

from tests.support.calls import remote_error
from tests.support.waiting import wait_until

UNKNOWN_TOKEN = "unknown, revoked or expired client token"


@contextmanager
def calling_as(config, context_data=None, timeout=20):
    """A proxy that calls with ``context_data`` (None: none at all)."""
    if context_data is None:
        proxy = ClusterRpcProxy(config, timeout=timeout)
    else:
        proxy = ClusterRpcProxy(config, context_data=context_data, timeout=timeout)
    with proxy as rpc:
        yield rpc


def forged(client_id=None):
    """Context data with a token of the right shape: a client id (a made-up one unless
    given) and a random secret."""
    return {"auth_token": f"ekc.{client_id or uuid.uuid4().hex}.{secrets.token_urlsafe(32)}"}


def client_id_of(context):
    return context["auth_token"].split(".")[1]


def forbidden(call, *args):
    """The message of the ``Forbidden`` a call must raise."""
    error = remote_error(call, *args)
    assert error.exc_type == "Forbidden", error
    return error.value


def not_found(call, *args):
    """The message of the ``NotFound`` a call must raise."""
    error = remote_error(call, *args)
    assert error.exc_type == "NotFound", error
    return error.value


def wait_for_next_second():
    """Until the clock's whole second has changed: the trail's times are whole seconds,
    so what happens after this is recorded as later than what happened before."""
    started = datetime.now(timezone.utc).replace(microsecond=0)
    wait_until(lambda: datetime.now(timezone.utc).replace(microsecond=0) > started,
               timeout=3, interval=0.02, message="the next second")
