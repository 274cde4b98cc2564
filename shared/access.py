"""Who may call what: client tokens, roles, and the rule of every RPC method.

Plain Python, no I/O: the registry (``shared.registry``) says which clients exist,
the RPC entrypoint (``shared.entrypoints``) asks :func:`authorize` before a worker
starts and :func:`check_result` before a member-bound client sees an answer.

A client calls with nameko's context data ``{"auth_token": "ekc.<id>.<secret>"}``
(and, for a staff tool acting for a person, ``"user_id": "<who>"``). The token names
the client (``<id>``, 32 hex digits) and proves it (``<secret>``, 256 random bits);
the registry keeps only the secret's SHA-256. A fast hash is enough: the secret is
random and as long as a key, so there is nothing to guess by trying words.

``METHOD_RULES`` is the table of docs/contract.md, "Who may call what": every RPC
method of every service and the roles that may call it. A service with a method
missing from it refuses to start (``shared.entrypoints``).
"""
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from shared.errors import Forbidden, NotFound, ValidationError

TOKEN_PREFIX = "ekc"
TOKEN_PATTERN = re.compile(r"^ekc\.([0-9a-f]{32})\.([A-Za-z0-9_-]{43})$")
TOKEN_MAX_LENGTH = 200
USER_ID_MAX_LENGTH = 200

ADMIN = "admin"
REGISTRAR = "registrar"
LSP_ADMIN = "lsp-admin"
ASSESSOR = "assessor"
EVENTS_STAFF = "events-staff"
MEMBER = "member"
AUDITOR = "auditor"
OPERATOR = "operator"
SERVICE = "service"  # the services' own identities (a process each), never given by hand

ROLES = {
    ADMIN: "everything",
    REGISTRAR: "members: register, activate, suspend, reinstate, renew, update_profile, reads",
    LSP_ADMIN: "certification: schemes, assessors, sessions, applications, certificates' "
               "suspension, reinstatement, revocation and expiry; reading members",
    ASSESSOR: "record_result, only as the assessor the client is bound to (--assessor-id), "
              "in sessions that assessor is assigned to",
    EVENTS_STAFF: "events: create, publish, cancel, registrations, check-in",
    MEMBER: "bound to one member (--member-id): their own record, inbox and preferences; "
            "registering for events and cancelling; applying for certification",
    AUDITOR: "read everything, the audit trail included; change nothing",
    OPERATOR: "health, stats, dead letters, delivery retries",
}
GIVEN_ROLES = frozenset(ROLES)  # what `ekraf clients add --role` accepts


def new_token(client_id):
    """A fresh token for ``client_id`` (a UUID's 32 hex digits) and the hash to keep."""
    secret = secrets.token_urlsafe(32)  # 256 bits, 43 characters
    return f"{TOKEN_PREFIX}.{client_id}.{secret}", secret_hash(secret)


def secret_hash(secret):
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def parse_token(token):
    """``(client_id, secret)`` from a token, or ``Forbidden`` saying what is wrong.

    Nothing of the token is ever repeated in the message (it may be a real secret
    sent by mistake in the wrong shape)."""
    if token is None:
        raise Forbidden("no identity: send context data auth_token (see `ekraf clients add`)")
    if not isinstance(token, str):
        raise Forbidden(f"auth_token must be a string, not {type(token).__name__}")
    if len(token) > TOKEN_MAX_LENGTH:
        raise Forbidden(f"auth_token is too long (at most {TOKEN_MAX_LENGTH} characters)")
    match = TOKEN_PATTERN.match(token)
    if match is None:
        raise Forbidden("auth_token is malformed: expected ekc.<32 hex digits>.<43 characters>")
    return match.group(1), match.group(2)


def secret_matches(secret, expected_hash):
    return hmac.compare_digest(secret_hash(secret), expected_hash)


@dataclass(frozen=True)
class Client:
    """A registered client, as the services see it (never its secret)."""

    id: str
    name: str
    roles: frozenset
    secret_hash: str = field(repr=False)
    member_id: str = None
    assessor_id: str = None
    kind: str = "client"  # or "service": a service process's own identity


@dataclass(frozen=True)
class Caller:
    """Who is calling: the client, and the person it acts for, if it names one.

    ``on_behalf_of`` is set when a service calls another while serving a client:
    the client it serves (its name), so the trail shows both."""

    client: str
    roles: frozenset
    member_id: str = None
    assessor_id: str = None
    user_id: str = None
    on_behalf_of: str = None
    kind: str = "client"

    def as_actor(self):
        """The envelope's ``actor``: who made the change a message announces."""
        actor = {"client": self.client, "user_id": self.user_id}
        if self.on_behalf_of:
            actor["on_behalf_of"] = self.on_behalf_of
        return actor


def system_caller(service_name):
    """The service itself: its timers (expiry) and what its handlers do."""
    return Caller(client=service_name, roles=frozenset({SERVICE}), kind="service")


def read_user_id(context_data):
    """The person a staff tool acts for (context data ``user_id``), checked."""
    user_id = context_data.get("user_id")
    if user_id is None:
        return None
    if not isinstance(user_id, str) or not user_id.strip() \
            or len(user_id) > USER_ID_MAX_LENGTH or not user_id.isprintable():
        raise ValidationError.field(
            "context_data.user_id",
            f"Must be a printable string of 1 to {USER_ID_MAX_LENGTH} characters.")
    return user_id


def caller_for(client, context_data):
    """The ``Caller`` a verified ``client`` is, with what its context data adds."""
    on_behalf_of = None
    if client.kind == "service":
        named = context_data.get("on_behalf_of")
        if isinstance(named, str) and 0 < len(named) <= 200 and named.isprintable():
            on_behalf_of = named  # trusted only from a service: it resolved that client
    return Caller(client=client.name, roles=client.roles, member_id=client.member_id,
                  assessor_id=client.assessor_id, user_id=read_user_id(context_data),
                  on_behalf_of=on_behalf_of, kind=client.kind)


# -- the rule of each method ----------------------------------------------------------

PUBLIC = "public"  # anyone, no identity needed (certification.verify)


@dataclass(frozen=True)
class Rule:
    """Who may call one method, and how a bound client is held to their own data.

    ``roles``: the roles that may call it (``admin`` always may).
    ``own_member``: for the ``member`` role, where the member's id is:
        ``("arg", name)`` an argument; ``("field", arg, name)`` a field of a dict
        argument; ``("filter", arg)`` the list's ``member_id`` filter (forced);
        ``("result", key)`` the answer's ``key`` (checked after the call).
    ``not_found``: the message another member's data gets, as the service words a
        record that does not exist (``{value}`` is the id asked for).
    ``as_assessor``: for the ``assessor`` role, the dict argument whose
        ``assessor_id`` is the client's own (filled in when left out).
    ``changes``: the call may change something (audited when it succeeds).
    """

    roles: frozenset
    own_member: tuple = None
    not_found: str = "no member {value}"
    as_assessor: str = None
    changes: bool = False


def _rule(*roles, changes=False, **options):
    return Rule(roles=frozenset(roles), changes=changes, **options)


def reads(*roles, **options):
    """A query: the auditor may always read."""
    return _rule(AUDITOR, *roles, **options)


def change(*roles, **options):
    return _rule(*roles, changes=True, **options)


STAFF_READERS = (REGISTRAR, LSP_ADMIN, EVENTS_STAFF, ASSESSOR, OPERATOR, MEMBER, SERVICE)

OWN_MEMBER_ARG = ("arg", "member_id")

METHOD_RULES = {
    # every service
    "*.health": reads(OPERATOR, SERVICE),
    "*.audit_log": reads(),
    # members
    "members.list_subsectors": reads(*STAFF_READERS),
    "members.register": change(REGISTRAR),
    "members.get": reads(REGISTRAR, LSP_ADMIN, SERVICE, MEMBER, own_member=OWN_MEMBER_ARG),
    "members.get_by_number": reads(REGISTRAR, LSP_ADMIN, MEMBER, own_member=("result", "id"),
                                   not_found="no member {value}"),
    "members.list": reads(REGISTRAR, LSP_ADMIN),
    "members.update_profile": change(REGISTRAR),
    "members.activate": change(REGISTRAR),
    "members.suspend": change(REGISTRAR),
    "members.reinstate": change(REGISTRAR),
    "members.renew": change(REGISTRAR),
    "members.expire_due": change(REGISTRAR),
    "members.stats": reads(REGISTRAR, OPERATOR),
    # certification
    "certification.create_scheme": change(LSP_ADMIN),
    "certification.get_scheme": reads(LSP_ADMIN, ASSESSOR, EVENTS_STAFF, MEMBER),
    "certification.list_schemes": reads(LSP_ADMIN, ASSESSOR, EVENTS_STAFF, MEMBER),
    "certification.register_assessor": change(LSP_ADMIN),
    "certification.get_assessor": reads(LSP_ADMIN, ASSESSOR),
    "certification.list_assessors": reads(LSP_ADMIN, ASSESSOR),
    "certification.schedule_session": change(LSP_ADMIN),
    "certification.get_session": reads(LSP_ADMIN, ASSESSOR, MEMBER),
    "certification.list_sessions": reads(LSP_ADMIN, ASSESSOR, MEMBER),
    "certification.apply": change(LSP_ADMIN, MEMBER, own_member=("field", "data", "member_id")),
    "certification.get_application": reads(
        LSP_ADMIN, ASSESSOR, MEMBER, own_member=("result", "member_id"),
        not_found="no application {value}"),
    "certification.list_applications": reads(
        LSP_ADMIN, ASSESSOR, MEMBER, own_member=("filter", "filters")),
    "certification.record_result": change(ASSESSOR, as_assessor="data"),
    "certification.get_certificate": reads(
        LSP_ADMIN, MEMBER, own_member=("result", "member_id"),
        not_found="no certificate {value}"),
    "certification.list_certificates": reads(
        LSP_ADMIN, MEMBER, own_member=("filter", "filters")),
    "certification.verify": Rule(roles=frozenset({"public"})),
    "certification.suspend_certificate": change(LSP_ADMIN),
    "certification.reinstate_certificate": change(LSP_ADMIN),
    "certification.revoke": change(LSP_ADMIN),
    "certification.expire_due": change(LSP_ADMIN),
    # events
    "events.create_event": change(EVENTS_STAFF),
    "events.publish_event": change(EVENTS_STAFF),
    "events.cancel_event": change(EVENTS_STAFF),
    "events.get_event": reads(EVENTS_STAFF, REGISTRAR, LSP_ADMIN, MEMBER),
    "events.list_events": reads(EVENTS_STAFF, REGISTRAR, LSP_ADMIN, MEMBER),
    "events.register": change(EVENTS_STAFF, MEMBER, own_member=OWN_MEMBER_ARG),
    "events.cancel_registration": change(EVENTS_STAFF, MEMBER, own_member=OWN_MEMBER_ARG),
    "events.check_in": change(EVENTS_STAFF),
    "events.list_registrations": reads(EVENTS_STAFF),
    # notifications
    "notifications.list_inbox": reads(MEMBER, own_member=OWN_MEMBER_ARG),
    "notifications.mark_read": change(MEMBER, own_member=OWN_MEMBER_ARG),
    "notifications.get_preferences": reads(MEMBER, own_member=OWN_MEMBER_ARG),
    "notifications.set_preferences": change(MEMBER, own_member=OWN_MEMBER_ARG),
    "notifications.list_deliveries": reads(OPERATOR),
    "notifications.retry_delivery": change(OPERATOR),
    "notifications.retry_failed": change(OPERATOR),
    "notifications.delivery_counts": reads(OPERATOR),
}


# For a method anyone may call: certification.verify; a benchmark's or a test's own service.
OPEN_TO_ANYONE = Rule(roles=frozenset({PUBLIC}))


def rule_for(service_name, method_name):
    """The rule of ``service.method``, or ``None`` when the table lacks one."""
    return METHOD_RULES.get(f"{service_name}.{method_name}") \
        or METHOD_RULES.get(f"*.{method_name}")


def roles_allowed(rule):
    """Every role that may call a method under ``rule`` (``admin`` included)."""
    return rule.roles if PUBLIC in rule.roles else rule.roles | {ADMIN}


def _bound_value(where, arguments):
    kind = where[0]
    if kind == "arg":
        return arguments.get(where[1])
    if kind == "field":
        value = arguments.get(where[1])
        return value.get(where[2]) if isinstance(value, dict) else None
    return None


def authorize(rule, caller, method, arguments):
    """Refuse (``Forbidden``, or ``NotFound`` for another member's data) or return the
    arguments to call with: ``arguments`` (a dict by parameter name), possibly narrowed
    for a bound client (a member's list filter, an assessor's own id)."""
    if PUBLIC in rule.roles:
        return arguments
    if caller is None:
        raise Forbidden(f"{method} needs an identity: send context data auth_token "
                        "(see `ekraf clients add`)")
    if ADMIN in caller.roles:
        return arguments
    usable = caller.roles & rule.roles
    if not usable:
        needed = ", ".join(sorted(roles_allowed(rule)))
        has = ", ".join(sorted(caller.roles)) or "none"
        raise Forbidden(f"client {caller.client} (roles: {has}) may not call {method}; "
                        f"it needs one of the roles: {needed}")
    if usable == {MEMBER}:
        return _as_member(rule, caller, arguments)
    if usable == {ASSESSOR} and rule.as_assessor:
        return _as_assessor(rule, caller, arguments)
    return arguments


def _as_member(rule, caller, arguments):
    where = rule.own_member
    if where is None or caller.member_id is None:
        raise Forbidden(f"client {caller.client} is not bound to a member")
    if where[0] in ("arg", "field"):
        value = _bound_value(where, arguments)
        if value is not None and value != caller.member_id:
            raise NotFound(rule.not_found.format(value=value))
        return arguments
    if where[0] == "filter":
        filters = arguments.get(where[1])
        if filters is None:
            filters = {}
        if not isinstance(filters, dict):
            return arguments  # the method's own validation names the argument
        asked = filters.get("member_id")
        if asked is not None and asked != caller.member_id:
            raise NotFound(rule.not_found.format(value=asked))
        return {**arguments, where[1]: {**filters, "member_id": caller.member_id}}
    return arguments  # ("result", key): checked on the answer


def _as_assessor(rule, caller, arguments):
    if caller.assessor_id is None:
        raise Forbidden(f"client {caller.client} is not bound to an assessor")
    data = arguments.get(rule.as_assessor)
    if not isinstance(data, dict):
        return arguments  # the method's own validation names the argument
    given = data.get("assessor_id")
    if given is not None and given != caller.assessor_id:
        raise Forbidden("an assessor records results only as themselves: leave assessor_id "
                        "out, or give your own")
    return {**arguments, rule.as_assessor: {**data, "assessor_id": caller.assessor_id}}


def check_result(rule, caller, result, arguments):
    """For a member-bound client, an answer about another member is ``NotFound``."""
    if rule.own_member is None or rule.own_member[0] != "result" or caller is None:
        return result
    if ADMIN in caller.roles or (caller.roles & rule.roles) != {MEMBER}:
        return result
    key = rule.own_member[1]
    if not isinstance(result, dict) or result.get(key) != caller.member_id:
        asked = next(iter(arguments.values()), None)
        raise NotFound(rule.not_found.format(value=asked))
    return result
