"""The small library every service of the platform uses the same way.

config (settings), db (engine, session per worker, UTC times), migrations
(Alembic on start), envelope (message shape), outbox (transactional publishing
and its relay), handlers (idempotent, retried, dead-lettered event handling),
entrypoints (RPC with contract errors), errors, schemas (marshmallow base),
rpc (service-to-service calls with a timeout).
"""
