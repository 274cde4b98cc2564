"""The contract's error types, sent to callers as nameko remote errors.

Each is registered with nameko so a Python caller using ``ClusterRpcProxy`` with
this package importable gets the same class back (``except NotFound``); any
other caller sees a ``RemoteError`` whose ``exc_type`` is the class name.
"""
import json

from nameko.exceptions import deserialize_to_instance


class ContractError(Exception):
    """Base of the errors a caller may receive."""


@deserialize_to_instance
class ValidationError(ContractError):
    """Bad input. The message is JSON: ``{"field": ["reason", ...]}``."""

    def __init__(self, errors):
        if isinstance(errors, str):
            try:
                errors = json.loads(errors)
            except ValueError:
                errors = {"_schema": [errors]}
        self.errors = errors
        super().__init__(json.dumps(errors, ensure_ascii=False, sort_keys=True))

    @classmethod
    def field(cls, name, reason):
        return cls({name: [reason]})


@deserialize_to_instance
class NotFound(ContractError):
    """No such record."""


@deserialize_to_instance
class Conflict(ContractError):
    """The record is in the wrong state, or a uniqueness rule was broken."""


@deserialize_to_instance
class Forbidden(ContractError):
    """The domain's rules say this actor may not do this."""


@deserialize_to_instance
class InternalError(ContractError):
    """Anything unexpected (a bug, the database away). The message carries only a
    reference to the logged traceback, never internals. See docs/contract.md."""


CONTRACT_ERRORS = (ValidationError, NotFound, Conflict, Forbidden, InternalError)
