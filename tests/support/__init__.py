"""Helpers for tests, by purpose (import from the module, not from here):

- ``waiting``: ``wait_until``, polling for evidence instead of sleeping.
- ``services``: services started as operators start them (``running_services``, the
  one way to start a stack), ``ServiceProcess``, ``wait_for_rpc``, ``free_port``.
- ``broker``: RabbitMQ vhosts of a test's own, outside subscribers (``MessageLog``,
  ``listening``), publishing as another service, dead-letter queues, raw AMQP calls,
  a TCP proxy that cuts a client off the broker.
- ``calls``: what an RPC call raised (``remote_error``, ``validation_fields``...).
- ``factories``: members, schemes, assessors, sessions and events, as data or made
  through RPC: one place for each kind of record a test needs.
- ``member_view``: feeding and reading a service's view of members.
- ``member_messages``: which members messages arrived, and a marker that shows the
  earlier ones have.
- ``samples``: a sample of every message notifications consumes, checked against its
  producer's schema.
- ``outside``: stand-ins for what lies outside the system (an SMTP server, an SMS
  gateway, a PostgreSQL cluster a test may stop).
- ``usecases``: the in-process tier's recording outbox and members stub.
"""
