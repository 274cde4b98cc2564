"""What an RPC call raised, whether the client mapped it to a local class or not."""
import json
import time
from collections import namedtuple

import pytest
from nameko.exceptions import RemoteError

from shared.errors import ContractError

RaisedError = namedtuple("RaisedError", "exc_type value")


def remote_error(call, *args):
    """The error a call raised, as (exc_type, value), whether or not the client
    could map it to a local class (it can here: shared.errors is importable)."""
    with pytest.raises((RemoteError, ContractError)) as caught:
        call(*args)
    error = caught.value
    if isinstance(error, RemoteError):
        return RaisedError(error.exc_type, error.value)
    return RaisedError(type(error).__name__, str(error))


def validation_fields(call, *args):
    """The fields a call's ValidationError names (it must raise one)."""
    error = remote_error(call, *args)
    assert error.exc_type == "ValidationError", (error.exc_type, error.value)
    return json.loads(error.value)


def names_field(errors, field):
    """Whether a ValidationError's fields include ``field`` (or a part of it: ``units.0``)."""
    return any(key == field or key.startswith(field + ".") for key in errors)


def outcome_of(call, *args):
    """``"ok"``, or the name of the error a call raised: for polling with wait_until."""
    try:
        call(*args)
        return "ok"
    except RemoteError as error:
        return error.exc_type
    except ContractError as error:
        return type(error).__name__


def timed_error(call, *args):
    """``(remote_error(call, *args), seconds the call took)``."""
    started = time.monotonic()
    error = remote_error(call, *args)
    return error, time.monotonic() - started
