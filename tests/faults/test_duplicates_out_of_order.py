"""Every consumer gets each message twice and out of order: the end state is the same
as with one delivery in order.

A stack of its own, in a vhost of its own. The members service runs first, alone: two
twin members go through the same life (registered, activated, moved to another
city, suspended, reinstated) and its real messages are captured, with
nobody else listening. Then certification, events and notifications start on empty
databases, and the test delivers the twins' messages (members' captured ones, plus the
events' and certification's messages about them): twin A's once, in order; twin B's
in reverse order, then all of them again. Each consumer must end up the same for both.
"""
import json
import uuid
from collections import Counter
from contextlib import ExitStack

import importlib

import pytest
from kombu import Connection, Exchange, Queue
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy

from shared.envelope import make_envelope
from tests.support.calls import outcome_of
from tests.support.factories import (
    event_data,
    in_days,
    make_assessor,
    make_scheme,
    make_session,
)
from tests.support.services import running_services
from tests.support.waiting import wait_until
from tests.support.identities import admin_context


CONSUMERS = ("certification", "events", "notifications")


def consumers_of(source, event_type):
    """``[(service, handler)]``: every handler of the stack's consumers that receives
    ``source``'s ``event_type`` (from the services' own entrypoints)."""
    from nameko.events import EventHandler
    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

    found = []
    for service in CONSUMERS:
        cls = next(value for value in vars(importlib.import_module(
            f"services.{service}.service")).values()
            if isinstance(value, type) and getattr(value, "name", None) == service)
        for attribute in dir(cls):
            for entrypoint in getattr(getattr(cls, attribute), ENTRYPOINT_EXTENSIONS_ATTR, ()):
                if isinstance(entrypoint, EventHandler) and (
                        entrypoint.source_service, entrypoint.event_type) == (source, event_type):
                    found.append((service, attribute))
    return found


def handled_lines(process, event_id, handler):
    """How often ``process`` logged handling ``event_id`` with ``handler`` (its
    ``ekraf.calls`` line, any outcome; a skipped copy has one too)."""
    return sum(1 for line in process.log().splitlines() if line.startswith("{")
               and (entry := json.loads(line))["logger"] == "ekraf.calls"
               and entry["event_id"] == event_id
               and entry["message"].startswith(f"message {handler} "))


@pytest.fixture
def start(vhost_config, new_database, smtp_server, tmp_path):
    """``start(name)``: one more service of the stack, on a new database, until the end."""
    with ExitStack() as stack:
        yield lambda name: stack.enter_context(running_services(
            [name], vhost_config, tmp_path, new_database, smtp_port=smtp_server.port,
            settings={"HANDLER_RETRY_DELAYS_MS": "200,400,800,1600"}))


def capture_member_messages(config, twins_life):
    """Run the members' part with only a capturing queue listening; their envelopes."""
    exchange = Exchange("members.events", "topic", durable=True)
    with Connection(config["AMQP_URI"]) as connection:
        queue = Queue(f"reorder-capture-{uuid.uuid4().hex[:6]}", exchange, routing_key="#",
                      auto_delete=True, channel=connection.channel())
        queue.declare()
        members = twins_life()
        expected = 5 * len(members)
        captured = []

        def take():
            while (message := queue.get(no_ack=True)) is not None:
                captured.append(json.loads(message.body))
            return len(captured) >= expected

        wait_until(take, timeout=30, message="the members' messages")
    return members, captured


def test_twice_and_out_of_order_ends_the_same_as_once_in_order(vhost_config, start):
    config = vhost_config
    tag = uuid.uuid4().hex[:6]
    start("members")

    def twins_life():
        twins = []
        with ClusterRpcProxy(config, context_data=admin_context(), timeout=30) as rpc:
            for twin in ("a", "b"):
                member = rpc.members.register({
                    "full_name": f"Kembar {twin.upper()} {tag}",
                    "email": f"kembar.{twin}.{tag}@example.id", "phone": "081255500011",
                    "city": "Samarinda", "subsector": "musik"})
                rpc.members.activate(member["id"])
                rpc.members.update_profile(member["id"], {"city": "Balikpapan"})
                rpc.members.suspend(member["id"], "Iuran belum dibayar")
                twins.append(rpc.members.reinstate(member["id"]))
        return twins

    (twin_a, twin_b), captured = capture_member_messages(config, twins_life)

    services = {name: start(name)[name] for name in CONSUMERS}
    with ClusterRpcProxy(config, context_data=admin_context(), timeout=30) as rpc:
        scheme = make_scheme(rpc, requires_training=True, subsector="musik")
        assessor = make_assessor(rpc, [scheme["code"]])
        session = make_session(rpc, scheme, [assessor])
        music_only = rpc.events.create_event(event_data(
            city="Balikpapan", subsectors=["musik"], members_only=True))
        rpc.events.publish_event(music_only["id"])

    def stream(member):
        """Everything published about one member, in the order it happened."""
        own = [envelope for envelope in captured if envelope["data"]["id"] == member["id"]]
        event_id, number = str(uuid.uuid4()), f"CRT-2026-{uuid.uuid4().hex[:8].upper()}"
        certificate = {"number": number, "member_id": member["id"],
                       "holder_name": member["full_name"], "scheme_code": scheme["code"],
                       "scheme_title": scheme["title"], "status": "active",
                       "issued_at": in_days(0), "valid_until": in_days(1095),
                       "verify_url": f"https://sertifikat.example/certificates/{number}"}
        others = [
            ("events", "registration_confirmed", {
                "id": str(uuid.uuid4()), "event_id": event_id, "member_id": member["id"],
                "status": "confirmed", "event_title": "Pelatihan Produksi Musik",
                "starts_at": in_days(-3), "venue": "Dome Balikpapan", "city": "Balikpapan"}),
            ("events", "attendance_recorded", {
                "id": str(uuid.uuid4()), "event_id": event_id, "member_id": member["id"],
                "status": "attended", "kind": "training", "scheme_code": scheme["code"],
                "checked_in_at": in_days(-3)}),
            ("certification", "certificate_issued", certificate),
            ("certification", "certificate_suspended",
             {**certificate, "status": "suspended", "reason": "Pemeriksaan ulang"}),
        ]
        return [("members", envelope) for envelope in own] + [
            (source, make_envelope(source, event_type, data))
            for source, event_type, data in others]

    dispatch = event_dispatcher(config)

    def deliver(messages):
        """One after another: each is sent once every handler of the one before has
        taken it (each type has a queue of its own per handler: sent together, they
        would be handled in any order, not the one given)."""
        for source, envelope in messages:
            handlers = consumers_of(source, envelope["event_type"])
            assert handlers, (source, envelope["event_type"])
            seen = {handler: handled_lines(services[name], envelope["event_id"], handler)
                    for name, handler in handlers}
            dispatch(source, envelope["event_type"], envelope)
            wait_until(lambda: all(
                handled_lines(services[name], envelope["event_id"], handler) > seen[handler]
                for name, handler in handlers), timeout=30,
                message=f"{envelope['event_type']} taken by {handlers}")

    in_order = stream(twin_a)
    reordered = stream(twin_b)
    assert [e["event_type"] for _, e in reordered] == [e["event_type"] for _, e in in_order]
    deliver(in_order)
    deliver(list(reversed(reordered)) + reordered)  # out of order, then every one again

    with ClusterRpcProxy(config, context_data=admin_context(), timeout=30) as rpc:
        def inbox(member):
            return Counter(n["event_type"] for n in rpc.notifications.list_inbox(
                member["id"], {"limit": 100})["items"])

        expected = Counter(["member_registered", "member_activated", "member_suspended",
                            "registration_confirmed", "certificate_issued",
                            "certificate_suspended"])
        wait_until(lambda: inbox(twin_a) == expected and inbox(twin_b) == expected,
                   timeout=30, interval=0.5, message="both inboxes complete")

        def settled(process, envelope, handler, times):
            return sum(1 for line in process.log().splitlines() if line.startswith("{")
                       and (entry := json.loads(line))["logger"] == "ekraf.calls"
                       and entry["event_id"] == envelope["event_id"]
                       and entry["outcome"] == "ok"
                       and entry["message"].startswith(f"message {handler} ")) == times

        # Nothing late: every handler has taken each of A's messages once and each of
        # B's twice with success (a failed try is retried until it succeeds or is
        # parked), so no retry is still to come.
        wait_until(lambda: all(
            settled(services[name], envelope, handler, times)
            for messages, times in ((in_order, 1), (reordered, 2))
            for source, envelope in messages
            for name, handler in consumers_of(source, envelope["event_type"])),
            timeout=30, interval=0.5, message="every copy handled with success")
        assert inbox(twin_a) == inbox(twin_b) == expected

        def deliveries(member):
            items = rpc.notifications.list_deliveries(
                {"member_id": member["id"], "limit": 100})["items"]
            return Counter((d["event_type"], d["channel"]) for d in items)

        assert deliveries(twin_a) == deliveries(twin_b)
        # In-app and email for each notice, once each (SMS is off in this stack).
        assert deliveries(twin_a) == Counter(
            {(event_type, channel): 1 for event_type in expected
             for channel in ("in_app", "email")})

        # Notifications' directory ended at the newest record (active, in Balikpapan, not
        # Samarinda), so both hear of a music event there.
        announced = rpc.events.create_event(event_data(city="Balikpapan", subsectors=["musik"]))
        rpc.events.publish_event(announced["id"])
        wait_until(lambda: inbox(twin_a)["event_published"] == 1
                   and inbox(twin_b)["event_published"] == 1,
                   timeout=30, message="the announcement, for both twins")

        # Events' view ended at the newest record too: a music-only event takes both.
        for twin in (twin_a, twin_b):
            assert rpc.events.register(music_only["id"], twin["id"])["status"] == "confirmed"

        # Certification's: active, and its training attended, so both may apply.
        for twin in (twin_a, twin_b):
            assert outcome_of(rpc.certification.apply, {
                "member_id": twin["id"], "scheme_code": scheme["code"],
                "session_id": session["id"]}) == "ok"
