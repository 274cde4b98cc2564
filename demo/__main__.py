"""The demo: what a client that knows only the contract can do with the platform.

Creative entrepreneurs from Balikpapan and Samarinda register, are activated and
get member numbers; the association lists and counts them; a subscriber of
another team sees every message. Run it against running services:

    python -m demo [--wait SECONDS]
"""
import argparse
import sys
import uuid
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet

eventlet.monkey_patch()

from nameko.containers import ServiceContainer  # noqa: E402
from nameko.events import BROADCAST, event_handler  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from shared.config import load_config  # noqa: E402

PEOPLE = [
    ("Siti Rahmawati", "Balikpapan", "kuliner", "Amplang Teras Nusantara", "0812-5401-1001"),
    ("Andi Pratama", "Balikpapan", "aplikasi", "Kode Borneo", "0813-5402-2002"),
    ("Dewi Lestari", "Samarinda", "kriya", "Tenun Ulap Doyo", "0811-5403-3003"),
    ("Yohanes Lawing", "Samarinda", "seni_pertunjukan", "Sanggar Hudoq", "0852-5404-4004"),
    ("Rina Marlina", "Balikpapan", "fotografi", None, "(0542) 745005"),
]
seen_messages = []


# A real subscriber uses the default, a durable queue of its own; the demo's
# queues are temporary so that it leaves nothing behind on the broker.
temporary = dict(handler_type=BROADCAST, reliable_delivery=False)


class DemoSubscriber:
    """Another team's service: it only knows the contract's message names."""

    name = "demo_subscriber"

    @event_handler("members", "member_registered", **temporary)
    def on_registered(self, payload):
        seen_messages.append(payload)

    @event_handler("members", "member_activated", **temporary)
    def on_activated(self, payload):
        seen_messages.append(payload)


def wait_for_services(config, seconds):
    deadline = eventlet.hubs.get_hub().clock() + seconds
    while True:
        try:
            with ClusterRpcProxy(config, timeout=3) as rpc:
                rpc.members.list_subsectors()
            return
        except Exception:
            if eventlet.hubs.get_hub().clock() > deadline:
                raise SystemExit(f"members did not answer within {seconds}s")
            eventlet.sleep(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--wait", type=float, default=0, help="wait this long for the services")
    args = parser.parse_args()
    config = load_config()
    if args.wait:
        wait_for_services(config, args.wait)

    subscriber = ServiceContainer(DemoSubscriber, config)
    subscriber.start()
    tag = uuid.uuid4().hex[:6]  # lets the demo run again and again on the same database
    try:
        with ClusterRpcProxy(config, timeout=30) as rpc:
            names = {s["code"]: s["name_en"] for s in rpc.members.list_subsectors()}
            print(f"{len(names)} creative-economy subsectors")
            registered = []
            for full_name, city, subsector, business, phone in PEOPLE:
                local = full_name.lower().replace(" ", ".")
                member = rpc.members.register({
                    "full_name": full_name, "email": f"{local}+{tag}@example.id",
                    "phone": phone, "city": city, "subsector": subsector,
                    "business_name": business,
                })
                registered.append(member)
                print(f"registered {full_name:16} {city:11} {names[subsector]:18} "
                      f"phone {member['phone']} -> {member['status']}")
            for member in registered[:4]:
                active = rpc.members.activate(member["id"])
                print(f"activated  {active['full_name']:16} {active['member_number']} "
                      f"valid until {active['valid_until'][:10]}")
            balikpapan = rpc.members.list({"city": "Balikpapan", "status": "active", "limit": 200})
            print(f"active members in Balikpapan: {len(balikpapan['items'])}"
                  f"{' (first page)' if balikpapan['next_cursor'] else ''}")
            stats = rpc.members.stats()
            print(f"stats: total {stats['total']}, by status {stats['by_status']}")
            print(f"       by city {stats['by_city']}")

        expected = len(PEOPLE) + 4
        ids = {m["id"] for m in registered}
        deadline = eventlet.hubs.get_hub().clock() + 15
        while eventlet.hubs.get_hub().clock() < deadline:
            mine = [m for m in seen_messages if m["data"]["id"] in ids]
            if len(mine) >= expected:
                break
            eventlet.sleep(0.2)
        mine = [m for m in seen_messages if m["data"]["id"] in ids]
        print(f"a subscriber of another team received {len(mine)} of {expected} messages "
              f"({', '.join(sorted({m['event_type'] for m in mine}))})")
        if len(mine) != expected:
            print("DEMO FAILED: messages missing")
            return 1
        print("demo: OK")
        return 0
    finally:
        subscriber.stop()


if __name__ == "__main__":
    sys.exit(main())
