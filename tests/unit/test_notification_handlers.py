"""Notifications' subscriptions, read from the class, with no I/O: exactly one handler
per message with a template, plus the members messages that keep its directory."""
import types

import pytest

from services.notifications import domain, operations
from services.notifications.service import NotificationsService
from shared.handlers import ReliableEventHandler
from shared.member_view import MEMBER_EVENTS

DIRECTORY = {("members", event_type) for event_type in MEMBER_EVENTS}


def handlers():
    """``{method name: (source, event_type)}`` for every event handler of the class."""
    found = {}
    for name, method in vars(NotificationsService).items():
        for entrypoint in getattr(method, "nameko_entrypoints", ()):
            if isinstance(entrypoint, ReliableEventHandler):
                assert name not in found, f"{name} has two event handlers"
                found[name] = (entrypoint.source_service, entrypoint.event_type)
    return found


def test_the_handlers_are_the_template_catalog_plus_the_members_directory():
    subscribed = list(handlers().values())
    assert len(subscribed) == len(set(subscribed)), "a message with two handlers"
    expected = set(domain.catalog()) | DIRECTORY
    assert set(subscribed) - expected == set(), "handlers without a template"
    assert expected - set(subscribed) == set(), "templates (or members messages) without a handler"


@pytest.mark.parametrize("name, subscription", sorted(handlers().items()))
def test_each_handler_is_named_after_its_message(name, subscription):
    """The method name is part of the handler's queue name,
    ``evt-<source>-<event>--notifications.<method>``, which the contract fixes."""
    source, event_type = subscription
    assert name == f"on_{source}_{event_type}"


@pytest.mark.parametrize("name, subscription", sorted(handlers().items()))
def test_a_handler_tells_members_exactly_when_its_message_has_a_template(
        name, subscription, monkeypatch):
    """And passes its own source: a copied line naming another source would look for
    the wrong template."""
    calls = []
    monkeypatch.setattr(operations, "handle_message",
                        lambda session, members, worker, source, envelope:
                        calls.append(("notify", source, envelope)))
    monkeypatch.setattr(operations, "apply_member_record",
                        lambda session, record: calls.append(("directory", record)))
    service = types.SimpleNamespace(db=object(), members=object(), deliveries=object())
    event = {"event_type": subscription[1], "data": {"id": "a member's record"}}
    # The method itself, without the idempotency and retries the decorator adds (I/O).
    getattr(NotificationsService, name).__wrapped__(service, event)
    if subscription in domain.catalog():
        assert calls == [("notify", subscription[0], event)]
    else:
        assert calls == [("directory", event["data"])]
