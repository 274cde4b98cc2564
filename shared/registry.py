"""The client registry: who may call the platform, kept in a database of its own.

``REGISTRY_DB_URL`` (default: SQLite ``VAR_DIR/registry.db``) holds one table of
clients. ``ekraf clients`` writes it (add, rotate, revoke); every service process
reads it: a snapshot in memory, refreshed every ``CLIENTS_REFRESH_SECONDS`` when
the registry's version has moved (a revoked client is refused within that, plus
one call's time). A client the snapshot does not know yet (added a moment ago) is
looked up at once, at most a few times a second.

Each service process also has an identity of its own here (``kind`` ``service``,
made at start, dropped at stop, kept alive by a heartbeat): the token it calls
other services with (``shared.rpc``). A crashed process's identity lapses after
``SERVICE_IDENTITY_TTL`` without a heartbeat.

Only hashes of secrets are stored (``shared.access``); the token itself is shown
once, to whoever made it.
"""
import json
import logging
import re
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import eventlet
import sqlalchemy as sa
from nameko.extensions import SharedExtension

from shared import access
from shared import config as cfg
from shared.db import UTCDateTime, make_engine
from shared.errors import Forbidden, InternalError, ValidationError
from shared.migrations import upgrade_to_head
from shared.settings import settings_of
from shared.timeutil import utcnow

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "registry_migrations"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
SERVICE_IDENTITY_TTL = timedelta(minutes=10)
HEARTBEAT_SECONDS = 60.0
# Refuse every call when the registry could not be read for this long: a revoked
# client must not keep working because the registry is away.
STALE_AFTER_SECONDS = 8.0
LOOKUPS_PER_SECOND = 20  # unknown client ids looked up at once, at most

metadata = sa.MetaData()

clients = sa.Table(
    "clients", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("roles", sa.Text, nullable=False),
    sa.Column("member_id", sa.String(36)),
    sa.Column("assessor_id", sa.String(36)),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("rotated_at", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
    sa.Column("seen_at", UTCDateTime),
)

registry_state = sa.Table(
    "registry_state", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
)

class RegistryError(Exception):
    """A client that cannot be added, rotated or revoked; the message says why."""

def open_registry(settings):
    """An engine on the registry, its schema brought up to date."""
    engine = make_engine(cfg.db_url(settings, "registry"), keep_connections=False)
    upgrade_to_head(engine, "registry", MIGRATIONS_DIR)
    return engine

def _bump(connection):
    connection.execute(registry_state.update().where(registry_state.c.id == 1)
                       .values(version=registry_state.c.version + 1))

def _client_of(row):
    return access.Client(
        id=row.id, name=row.name, roles=frozenset(json.loads(row.roles)),
        secret_hash=row.secret_hash, member_id=row.member_id, assessor_id=row.assessor_id,
        kind=row.kind)

def check_new_client(name, roles, member_id=None, assessor_id=None):
    """``ValidationError`` naming the first thing wrong with a client to add."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValidationError.field(
            "name", "1 to 64 characters: lowercase letters, digits, '.', '_' or '-', "
                    "starting with a letter or digit.")
    if not roles:
        raise ValidationError.field("roles", "At least one --role.")
    unknown = sorted(set(roles) - access.GIVEN_ROLES)
    if unknown:
        raise ValidationError.field(
            "roles", f"Unknown role {', '.join(unknown)}; the roles are: "
                     f"{', '.join(sorted(access.GIVEN_ROLES))}.")
    for field_name, value in (("member_id", member_id), ("assessor_id", assessor_id)):
        if value is not None:
            try:
                uuid.UUID(value)
            except (ValueError, TypeError, AttributeError):
                raise ValidationError.field(field_name, "Must be a UUID.") from None
    if access.MEMBER in roles and member_id is None:
        raise ValidationError.field("member_id", "The member role needs --member-id.")
    if access.ASSESSOR in roles and assessor_id is None:
        raise ValidationError.field("assessor_id", "The assessor role needs --assessor-id.")
    if member_id is not None and access.MEMBER not in roles:
        raise ValidationError.field("member_id", "Only a client with the member role is "
                                                 "bound to a member.")
    if assessor_id is not None and access.ASSESSOR not in roles:
        raise ValidationError.field("assessor_id", "Only a client with the assessor role "
                                                   "is bound to an assessor.")

def add_client(engine, name, roles, member_id=None, assessor_id=None):
    """A new client; returns ``(client record, token)``. The token is not kept."""
    roles = sorted(set(roles))
    check_new_client(name, roles, member_id, assessor_id)
    client_id = uuid.uuid4().hex
    token, hashed = access.new_token(client_id)
    with engine.begin() as connection:
        taken = connection.execute(sa.select(clients.c.id).where(
            clients.c.name == name, clients.c.kind == "client",
            clients.c.revoked_at.is_(None))).first()
        if taken:
            raise RegistryError(f"a client named {name} exists; revoke it first, or rotate "
                                f"its secret (ekraf clients rotate {name})")
        connection.execute(clients.insert().values(
            id=client_id, name=name, kind="client", roles=json.dumps(roles),
            member_id=member_id, assessor_id=assessor_id, secret_hash=hashed,
            created_at=utcnow()))
        _bump(connection)
    return client_record(client_id, name, roles, member_id, assessor_id), token

def client_record(client_id, name, roles, member_id, assessor_id, created_at=None,
                  revoked_at=None):
    return {"id": client_id, "name": name, "roles": list(roles), "member_id": member_id,
            "assessor_id": assessor_id,
            "created_at": created_at.isoformat() if created_at else None,
            "revoked_at": revoked_at.isoformat() if revoked_at else None}

def list_clients(engine, include_revoked=False):
    query = sa.select(clients).where(clients.c.kind == "client").order_by(
        clients.c.name, clients.c.created_at)
    if not include_revoked:
        query = query.where(clients.c.revoked_at.is_(None))
    with engine.connect() as connection:
        return [client_record(row.id, row.name, json.loads(row.roles), row.member_id,
                              row.assessor_id, row.created_at, row.revoked_at)
                for row in connection.execute(query)]

def _active_client(connection, name):
    row = connection.execute(sa.select(clients).where(
        clients.c.name == name, clients.c.kind == "client",
        clients.c.revoked_at.is_(None))).first()
    if row is None:
        raise RegistryError(f"no client named {name}")
    return row

def revoke_client(engine, name):
    """Revoke ``name``: every service refuses it within ``CLIENTS_REFRESH_SECONDS``."""
    with engine.begin() as connection:
        row = _active_client(connection, name)
        connection.execute(clients.update().where(clients.c.id == row.id)
                           .values(revoked_at=utcnow()))
        _bump(connection)
    return client_record(row.id, row.name, json.loads(row.roles), row.member_id,
                         row.assessor_id, row.created_at, utcnow())

def rotate_secret(engine, name):
    """A new secret for ``name`` (same client, same roles); the old one stops working
    like a revoked client's. Returns ``(client record, token)``."""
    with engine.begin() as connection:
        row = _active_client(connection, name)
        token, hashed = access.new_token(row.id)
        connection.execute(clients.update().where(clients.c.id == row.id)
                           .values(secret_hash=hashed, rotated_at=utcnow()))
        _bump(connection)
    return client_record(row.id, row.name, json.loads(row.roles), row.member_id,
                         row.assessor_id, row.created_at), token

def token_is_active(engine, token):
    """Whether ``token`` is a client's current, unrevoked one (``ekraf`` checks the
    admin file it keeps before using it)."""
    try:
        client_id, secret = access.parse_token(token)
    except Forbidden:
        return False
    client = load_one(engine, client_id)
    return client is not None and access.secret_matches(secret, client.secret_hash)

# -- a service process's own identity ------------------------------------------------

def start_service_identity(engine, service_name, roles=(access.SERVICE,)):
    """Register this process as ``service_name``; returns ``(client_id, token)``.
    (``ekraf`` makes one with the auditor role for the few reads it needs to check
    what it is asked to do, and drops it at once.)"""
    client_id = uuid.uuid4().hex
    token, hashed = access.new_token(client_id)
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(clients.delete().where(  # identities of processes long gone
            clients.c.kind == "service", clients.c.seen_at < now - SERVICE_IDENTITY_TTL * 6))
        connection.execute(clients.insert().values(
            id=client_id, name=service_name, kind="service",
            roles=json.dumps(sorted(roles)), secret_hash=hashed, created_at=now,
            seen_at=now))
        _bump(connection)
    return client_id, token

def heartbeat(engine, client_id):
    with engine.begin() as connection:
        connection.execute(clients.update().where(clients.c.id == client_id)
                           .values(seen_at=utcnow()))

def end_service_identity(engine, client_id):
    with engine.begin() as connection:
        connection.execute(clients.delete().where(clients.c.id == client_id))
        _bump(connection)

# -- reading -------------------------------------------------------------------------

def _usable(query, now):
    return query.where(clients.c.revoked_at.is_(None)).where(sa.or_(
        clients.c.kind == "client", clients.c.seen_at >= now - SERVICE_IDENTITY_TTL))

def current_version(connection):
    return connection.execute(sa.select(registry_state.c.version)).scalar_one()

def load_active(connection):
    rows = connection.execute(_usable(sa.select(clients), utcnow()))
    return {row.id: _client_of(row) for row in rows}

def load_one(engine, client_id):
    with engine.connect() as connection:
        row = connection.execute(
            _usable(sa.select(clients), utcnow()).where(clients.c.id == client_id)).first()
    return _client_of(row) if row else None

class ClientDirectory:
    """This process's view of the registry: resolves tokens to callers, in memory."""

    def __init__(self, engine, refresh_seconds=2.0, clock=time.monotonic):
        self.engine = engine
        self.refresh_seconds = refresh_seconds
        # Stale after several missed refreshes, never less than STALE_AFTER_SECONDS: a
        # long refresh interval must not make every other call fail.
        self.stale_after = max(STALE_AFTER_SECONDS, 4 * refresh_seconds)
        self.clock = clock
        self.clients = {}
        self.version = None
        self.read_at = None
        self._lookups = []  # times of recent on-demand lookups
        self._lock = threading.Lock()

    def refresh(self):
        """Reload the clients if the registry's version moved; return whether it did."""
        with self.engine.connect() as connection:
            version = current_version(connection)
            if version != self.version:
                self.clients = load_active(connection)
                self.version = version
                changed = True
            else:
                changed = False
        self.read_at = self.clock()
        return changed

    def resolve(self, context_data):
        """The ``Caller`` the context data's token proves, or ``Forbidden``."""
        if not isinstance(context_data, dict):
            raise Forbidden("no identity: context data must be an object")
        client_id, secret = access.parse_token(context_data.get("auth_token"))
        if self.read_at is None or self.clock() - self.read_at > self.stale_after:
            raise InternalError("the client registry cannot be read, so no identity can "
                                "be checked; nothing was changed; try again")
        client = self.clients.get(client_id)
        if client is None or not access.secret_matches(secret, client.secret_hash):
            client = self._look_up(client_id)  # added, or its secret rotated, since
            if client is None or not access.secret_matches(secret, client.secret_hash):
                raise Forbidden("unknown, revoked or expired client token")
        return access.caller_for(client, context_data)

    def _look_up(self, client_id):
        """A client as the registry has it now: one added or rotated since the last
        refresh works at once. Rate-limited: a flood of made-up ids or wrong secrets
        must not become a flood of queries (beyond the limit, they are refused)."""
        now = self.clock()
        with self._lock:
            self._lookups = [at for at in self._lookups if now - at < 1.0]
            if len(self._lookups) >= LOOKUPS_PER_SECOND:
                return None
            self._lookups.append(now)
        try:
            client = load_one(self.engine, client_id)
        except Exception as error:
            log.warning("client registry lookup failed (%s)", type(error).__name__)
            return None
        clients = dict(self.clients)
        if client is None:
            clients.pop(client_id, None)
        else:
            clients[client_id] = client
        self.clients = clients
        return client

class Registry(SharedExtension):
    """The registry in a service process: its ``ClientDirectory``, kept fresh, and the
    process's own identity (``token``) for calls to other services."""

    def setup(self):
        settings = settings_of(self.container)
        self.engine = open_registry(settings)
        self.directory = ClientDirectory(self.engine, settings.CLIENTS_REFRESH_SECONDS)
        self.client_id = self.token = None
        self._stopping = False
        self._thread = None

    def start(self):
        self.client_id, self.token = start_service_identity(
            self.engine, self.container.service_name)
        self.directory.refresh()
        self._thread = self.container.spawn_managed_thread(self._keep_fresh,
                                                           identifier="client registry")

    def _keep_fresh(self):
        last_heartbeat = time.monotonic()
        while not self._stopping:
            eventlet.sleep(self.directory.refresh_seconds)
            if self._stopping:
                break
            try:
                self.directory.refresh()
                if time.monotonic() - last_heartbeat > HEARTBEAT_SECONDS:
                    heartbeat(self.engine, self.client_id)
                    last_heartbeat = time.monotonic()
            except Exception as error:  # the registry away: keep trying; stale refuses
                log.warning("client registry not readable (%s: %s)",
                            type(error).__name__, str(error).splitlines()[0][:200])

    def stop(self):
        self._stopping = True
        if self._thread is not None:
            self._thread.kill()
        if self.client_id is not None:
            try:
                end_service_identity(self.engine, self.client_id)
            except Exception as error:
                log.warning("could not drop this process's identity (%s); it lapses "
                            "by itself", type(error).__name__)
        self.engine.dispose()

    def kill(self):
        self._stopping = True
        if self._thread is not None:
            self._thread.kill()
        self.engine.dispose()

