"""1. RPC: the bare echo service against members.get, members.register and
events.register, at 1, 10 and 50 concurrent clients."""
from collections import Counter
from datetime import datetime, timedelta, timezone

from nameko.standalone.rpc import ClusterRpcProxy

from bench.load import active_members, closed_loop, member_data
from bench.report import latency_ms, table
from shared.access import EVENTS_STAFF, REGISTRAR


ALONE = "members.register, consumers paused"
CONSUMERS = ("certification", "events", "notifications")
SOLO_ECHO = "echo, in a stack of members alone"
SOLO = "members.register, members alone"
SOLO_GET = "members.get, members alone"


def run(stack, smoke):
    # Smoke: one concurrency, half a second a cell: that every cell still runs.
    seconds = 0.5 if smoke else 5.0
    concurrencies = (10,) if smoke else (1, 10, 50)
    config = stack.config
    # Each call as a client with the role its rule needs (shared.access.METHOD_RULES).
    registrar, events_staff = stack.client(REGISTRAR), stack.client(EVENTS_STAFF)
    with ClusterRpcProxy(config, timeout=60, context_data=registrar) as rpc:
        member = rpc.members.activate(rpc.members.register(member_data())["id"])
    with ClusterRpcProxy(config, timeout=60, context_data=events_staff) as rpc:
        starts = datetime.now(timezone.utc) + timedelta(days=30)
        event = rpc.events.create_event({
            "title": "Pelatihan Bench", "kind": "training", "venue": "Dome",
            "city": "Balikpapan", "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=3)).isoformat(), "capacity": 100_000})
        rpc.events.publish_event(event["id"])
    # events.register needs a member per call: made beforehand, handed out in order.
    needed = 150 if smoke else 3000
    registrants = iter(active_members(config, registrar, needed))

    # (call, the client it calls as). The echo baseline gets the same context data
    # (the same headers on the wire) and checks none of it.
    calls = {
        "echo (baseline)": (lambda rpc, n, i: rpc.bench_echo.echo({"id": member["id"]}),
                            registrar),
        "members.get": (lambda rpc, n, i: rpc.members.get(member["id"]), registrar),
        "members.register": (lambda rpc, n, i: rpc.members.register(member_data()),
                             registrar),
        "events.register": (lambda rpc, n, i: rpc.events.register(
            event["id"], next(registrants)["id"]) if i >= 0 else None, events_staff),
    }
    # members.register once more with the three consumers paused: its own RPC path,
    # as the echo baseline's is measured, without their reactions to each registration
    # (notices, emails, member views) competing for the same two cores.
    cells = [*calls.items(), (ALONE, calls["members.register"])]
    rows, figures = [], {}
    for clients in concurrencies:
        for name, (call, context) in cells:
            stack.settle()  # what the last cell set off (messages, emails) is done
            if name == ALONE:
                with stack.paused(CONSUMERS):
                    rate, latencies, errors = closed_loop(config, clients, seconds, call,
                                                          context)
            else:
                rate, latencies, errors = closed_loop(config, clients, seconds, call, context)
            figures[(name, clients)] = rate
            rows.append(row(name, clients, rate, latencies, errors,
                            figures[("echo (baseline)", clients)]))
    # The whole system's reactions to the last cells (the paused consumers' backlog)
    # done first: they would compete with the stack of members alone for the CPU.
    stack.settle()
    rows += members_alone(stack, concurrencies, seconds)
    notes = [f"{seconds:g} s per cell after a warm-up; one client process, a connection "
             "per client; ratio = calls/s over the echo baseline's at the same concurrency.",
             f"'{ALONE}': the same calls with certification, events and "
             "notifications paused (SIGSTOP), their queues filling meanwhile (the broker "
             "stores every message for them): members' RPC path without their work "
             "competing for the CPU. The other rows run beside the whole system's "
             "reactions on the same two cores.",
             f"'{SOLO_GET}', '{SOLO}': a second stack (own vhost and database, the "
             "same client registry) with only members and echo, their ratios against "
             f"'{SOLO_ECHO}' measured in that stack: no consumer queues at all, so the "
             "broker only routes the messages away.",
             "Identities on: members.* called as a registrar client, events.register as "
             "events-staff (setup likewise; never admin); each call's token checked "
             "against the run's client registry, each change audited. The echo "
             "baselines get the same context data and check nothing.",
             "Targets at 10 clients: members.get >= 0.7x, members.register >= 0.4x."]
    text = table("RPC throughput and latency",
                 ["call", "clients", "calls/s", "p50 ms", "p95 ms", "p99 ms", "x echo",
                  "errors"], rows, notes)
    return text, figures


def row(name, clients, rate, latencies, errors, baseline):
    """One line of the table: the ratio is to the echo baseline measured beside it."""
    return (name, clients, rate, *latency_ms(latencies),
            f"{rate / baseline:.2f}" if baseline else None,
            ", ".join(f"{kind} x{count}" for kind, count in Counter(errors).items()) or 0)


def members_alone(stack, concurrencies, seconds):
    """members.get and members.register against echo in a stack of its own with no
    other service (the run's client registry and clients shared with ``stack``)."""
    from bench.stack import Stack

    alone, rows = Stack(registry_of=stack), []
    registrar = stack.client(REGISTRAR)
    try:
        alone.start(services=("members",))
        with ClusterRpcProxy(alone.config, timeout=60, context_data=registrar) as rpc:
            member = rpc.members.activate(rpc.members.register(member_data())["id"])
        for clients in concurrencies:
            baseline = None
            for name, call in (
                    (SOLO_ECHO, lambda rpc, n, i: rpc.bench_echo.echo({"id": member["id"]})),
                    (SOLO_GET, lambda rpc, n, i: rpc.members.get(member["id"])),
                    (SOLO, lambda rpc, n, i: rpc.members.register(member_data()))):
                alone.settle()
                rate, latencies, errors = closed_loop(alone.config, clients, seconds, call,
                                                      registrar)
                baseline = baseline or rate
                rows.append(row(name, clients, rate, latencies, errors, baseline))
    finally:
        alone.stop()
    return rows
