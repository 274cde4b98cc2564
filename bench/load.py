"""Driving load: concurrent clients, each with its own RPC connection, calling with a
client's context data (``{"auth_token": ...}``: ``Stack.client``)."""
import time
import uuid

import eventlet
from nameko.standalone.rpc import ClusterRpcProxy


def closed_loop(config, clients, seconds, make_call, context=None, warmup=0.5):
    """``clients`` green threads call ``make_call(rpc, client, index)`` back to back
    for ``seconds``, each proxy with ``context`` as its context data (None: no
    identity, for a public method); returns (calls per second, latencies in seconds,
    errors)."""
    latencies, errors = [], []
    ready = eventlet.event.Event()
    stop_at = {}

    def client(number):
        with ClusterRpcProxy(config, timeout=60, context_data=context) as rpc:
            index = 0
            make_call(rpc, number, -1)  # connect and warm up outside the measurement
            ready.wait()
            while time.monotonic() < stop_at["t"]:
                index += 1
                started = time.monotonic()
                try:
                    make_call(rpc, number, index)
                except StopIteration:  # the call's supply of fresh data ran out
                    errors.append("ran out of prepared data")
                    return
                except Exception as error:  # counted, not hidden
                    errors.append(type(error).__name__)
                    continue
                if started >= stop_at["measure_from"]:
                    latencies.append(time.monotonic() - started)

    pool = [eventlet.spawn(client, n) for n in range(clients)]
    eventlet.sleep(0.5)
    now = time.monotonic()
    stop_at.update(measure_from=now + warmup, t=now + warmup + seconds)
    ready.send()
    for green in pool:
        green.wait()
    return len(latencies) / seconds, latencies, errors


def unique_email(prefix="bench"):
    return f"{prefix}.{uuid.uuid4().hex[:12]}@example.id"


def member_data(subsector="musik", city="Balikpapan", prefix="Anggota Bench"):
    return {"full_name": f"{prefix} {uuid.uuid4().hex[:6]}", "email": unique_email(),
            "phone": "081234567890", "city": city, "subsector": subsector}


def active_members(config, context, count, clients=20, **data):
    """``count`` registered and activated members (records), made concurrently by the
    client whose context data is ``context`` (a registrar)."""
    made = []

    def make(_):
        with ClusterRpcProxy(config, timeout=60, context_data=context) as rpc:
            while len(made) < count:
                member = rpc.members.register(member_data(**data))
                made.append(rpc.members.activate(member["id"]))

    pool = eventlet.GreenPool(clients)
    list(pool.imap(make, range(clients)))
    return made[:count]
