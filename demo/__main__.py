"""The demo: what a client that knows only the contract can do with the platform.

Creative entrepreneurs from Balikpapan and Samarinda register, are activated and
get member numbers; the association lists and counts them. The city and the
association hold a public dialog in Balikpapan ("Teras Ibu Kota Nusantara"), with a
waitlist, and a training that prepares for a certification scheme. Then competence
testing: a scheme, an assessor, a session at a TUK in Balikpapan; members apply,
are assessed, and the competent ones get signed certificates that anyone can
verify over HTTP and check offline against the published keys. Members hear of
all this in their inbox (and by email). A subscriber of another team sees every
message. Run it against running services:

    python -m demo [--wait SECONDS]
"""
import argparse
import json
import sys
import urllib.request
import uuid
import warnings
from datetime import datetime, timedelta, timezone

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


def demo_subscriber():
    """Another team's service: it knows only the contract's message names (the
    catalog, docs/asyncapi.yaml), and subscribes to every one of them."""
    from shared.catalog import published_messages

    def handler(service, event_type):
        # A function of its own each: nameko keeps a decorator's entrypoints on the function.
        def keep(self, payload):
            seen_messages.append(payload)
        return event_handler(service, event_type, **temporary)(keep)

    handlers = {f"on_{service}_{event_type}": handler(service, event_type)
                for service, messages in published_messages().items() for event_type in messages}
    return type("DemoSubscriber", (), {"name": "demo_subscriber", **handlers})


def client_context(config):
    """The context data the demo calls with: the client ``ekraf`` calls as
    (``EKRAF_CLIENT_FILE``, else the admin client ``ekraf up`` keeps under ``var/``)."""
    import click

    from ekraf.clients import calling_as

    try:
        return calling_as(config)
    except click.ClickException as error:
        raise SystemExit(error.format_message()) from None


class DemoClients:
    """The clients the story's people use, each with only its job's roles, made in the
    client registry (as `ekraf clients add` does) and revoked when the demo ends."""

    def __init__(self, config, tag):
        from ekraf.clients import open_registry

        self.config, self.tag = config, tag
        self.engine = open_registry(config)
        self.names = []

    def add(self, name, roles, **binding):
        from shared.registry import add_client

        record, token = add_client(self.engine, f"demo-{name}-{self.tag}", roles, **binding)
        self.names.append(record["name"])
        return record["name"], {"auth_token": token}

    def proxy(self, context_data):
        return ClusterRpcProxy(self.config, timeout=30, context_data=context_data)

    def close(self):
        from shared.registry import revoke_client

        for name in self.names:
            revoke_client(self.engine, name)
        self.engine.dispose()


def wait_for_services(config, seconds, context_data):
    deadline = eventlet.hubs.get_hub().clock() + seconds
    while True:
        try:
            with ClusterRpcProxy(config, timeout=3, context_data=context_data) as rpc:
                rpc.members.list_subsectors()
                rpc.certification.list_schemes({"limit": 1})
                rpc.notifications.delivery_counts()
                rpc.events.list_events({"limit": 1})
            return
        except Exception:
            if eventlet.hubs.get_hub().clock() > deadline:
                raise SystemExit(f"the services did not answer within {seconds}s")
            eventlet.sleep(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--wait", type=float, default=0, help="wait this long for the services")
    args = parser.parse_args()
    config = load_config()
    context_data = client_context(config)
    if args.wait:
        wait_for_services(config, args.wait, context_data)

    subscriber = ServiceContainer(demo_subscriber(), config)
    subscriber.start()
    tag = uuid.uuid4().hex[:6]  # lets the demo run again and again on the same database
    clients = DemoClients(config, tag)
    try:
        with ClusterRpcProxy(config, timeout=30, context_data=context_data) as rpc:
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
            scheme = create_scheme(rpc, tag)
            event_ids = hold_events(rpc, registered, scheme["code"])
            certificates = certify(rpc, config, scheme, tag, registered[:3], clients)
            show_inbox(clients, registered[0], registered[1])
            show_trail(rpc, clients, next(iter(certificates)))

        member_ids = {m["id"] for m in registered}
        ours = member_ids | set(event_ids) | set(certificates)

        def mine():
            """The messages about this run's members, events and certificates, each once
            (delivery is at least once: a redelivered copy repeats its event_id)."""
            unique = {m["event_id"]: m for m in seen_messages}
            return [m for m in unique.values() if ours & {
                m["data"].get(key) for key in ("id", "member_id", "event_id", "number")}]

        # Every message the walk-through causes, by type (2 at the dialog: the
        # registration that was cancelled and the one promoted into its seat).
        expected = {
            "member_registered": len(PEOPLE), "member_activated": 4,
            "event_published": 2, "registration_confirmed": 3 + 3,
            "registration_waitlisted": 2, "registration_cancelled": 1,
            "registration_promoted": 1, "attendance_recorded": 1 + 3,
            "application_submitted": 3, "assessment_completed": 3,
            "certificate_issued": len(certificates)}

        def counts():
            found = {}
            for message in mine():
                found[message["event_type"]] = found.get(message["event_type"], 0) + 1
            return found

        deadline = eventlet.hubs.get_hub().clock() + 15
        while eventlet.hubs.get_hub().clock() < deadline and counts() != expected:
            eventlet.sleep(0.2)
        found = counts()
        print(f"a subscriber of another team received {sum(found.values())} messages of "
              f"{len(found)} types about this walk-through:")
        for event_type, count in expected.items():
            print(f"  {event_type:24} {found.get(event_type, 0)}"
                  f"{'' if found.get(event_type, 0) == count else f' (expected {count})'}")
        if found != expected:
            print("DEMO FAILED: the messages received are not the ones expected")
            return 1
        print("demo: OK")
        return 0
    finally:
        subscriber.stop()
        clients.close()


def create_scheme(rpc, tag):
    scheme = rpc.certification.create_scheme({
        "code": f"DKV-MUDA-{tag.upper()}",
        "title": "Desainer Grafis Muda",
        "subsector": "desain_komunikasi_visual",
        "skkni_ref": "SKKNI No. 126 Tahun 2019",
        "units": [{"code": "J.74DKV00.001.1", "title": "Menerapkan prinsip desain"},
                  {"code": "J.74DKV00.005.1", "title": "Membuat tata letak"},
                  {"code": "J.74DKV00.011.1", "title": "Menyiapkan berkas siap cetak"}],
        "requires_training": True,
    })
    print(f"scheme {scheme['code']}: {scheme['title']} ({len(scheme['units'])} units, "
          f"valid {scheme['validity_months']} months, training required first)")
    return scheme


def in_days(days, hour_utc=1):
    moment = datetime.now(timezone.utc) + timedelta(days=days)
    return moment.replace(hour=hour_utc, minute=0, second=0, microsecond=0).isoformat()


def hold_events(rpc, members, scheme_code):
    """A public dialog with the city, with a waitlist; and a training for the scheme."""
    dialog = rpc.events.create_event({
        "title": "Dialog Publik: Balikpapan, Teras Ibu Kota Nusantara",
        "kind": "public_dialog", "venue": "Balikpapan Sport and Convention Center",
        "city": "Balikpapan", "starts_at": in_days(7), "ends_at": in_days(7, 4),
        "capacity": 3, "members_only": False,
        "description": "Ekonomi kreatif bersama Pemerintah Kota Balikpapan"})
    rpc.events.publish_event(dialog["id"])
    for member in members:
        place = rpc.events.register(dialog["id"], member["id"])
        where = "seat" if place["status"] == "confirmed" else f"waitlist #{place['position']}"
        print(f"dialog     {member['full_name']:16} {where}")
    rpc.events.cancel_registration(dialog["id"], members[0]["id"])
    seated = rpc.events.list_registrations(dialog["id"], {"status": "confirmed"})["items"]
    names = {member["id"]: member["full_name"] for member in members}
    print(f"dialog     {members[0]['full_name']} cancels; the seat goes to "
          f"{names[seated[-1]['member_id']]} (first on the waitlist)")
    attendee = rpc.events.check_in(dialog["id"], seated[0]["member_id"])
    print(f"dialog     {names[attendee['member_id']]} checks in ({attendee['status']})")
    training = rpc.events.create_event({
        "title": "Pelatihan Desain Grafis untuk UMKM", "kind": "training",
        "venue": "Rumah Kreatif Balikpapan", "city": "Balikpapan",
        "starts_at": in_days(3), "ends_at": in_days(3, 8), "capacity": 20,
        "scheme_code": scheme_code})
    rpc.events.publish_event(training["id"])
    for member in members[:3]:
        rpc.events.register(training["id"], member["id"])
        rpc.events.check_in(training["id"], member["id"])
    event = rpc.events.get_event(training["id"])
    print(f"training   {event['title']}: {event['confirmed_count']} attended "
          f"(prepares for {scheme_code})")
    return [dialog["id"], training["id"]]


def certify(rpc, config, scheme, tag, members, clients):
    """Uji kompetensi: assessor, session, applications, results, certificates."""
    assessor = rpc.certification.register_assessor({
        "full_name": "Hendra Wijaya", "email": f"hendra+{tag}@lsp.example.id",
        "registration_number": f"MET.000.{tag.upper()}.2026", "scheme_codes": [scheme["code"]]})
    session = rpc.certification.schedule_session({
        "scheme_code": scheme["code"], "venue": "TUK Balikpapan, Gedung Kesenian",
        "starts_at": (datetime.now(timezone.utc) + timedelta(days=14)).isoformat(),
        "capacity": 20, "assessor_ids": [assessor["id"]]})
    print(f"session at {session['venue']} on {session['starts_at'][:10]}, "
          f"assessor {assessor['full_name']}")
    # The assessor's tablet is a client bound to that assessor: it records results as
    # Hendra, never as someone else (impartiality rests on identity, not an argument).
    tablet, tablet_context = clients.add("assessor-tablet", ["assessor"],
                                         assessor_id=assessor["id"])
    print(f"client     {tablet}: role assessor, bound to {assessor['full_name']}")
    certificates = {}
    for index, member in enumerate(members):
        application = apply_once_training_is_known(rpc, {
            "member_id": member["id"], "scheme_code": scheme["code"],
            "session_id": session["id"]})
        units = [{"unit_code": unit["code"], "competent": index != 2 or unit is not
                  scheme["units"][-1]} for unit in scheme["units"]]
        with clients.proxy(tablet_context) as as_assessor:
            result = as_assessor.certification.record_result(application["id"],
                                                             {"units": units})
        certificate = result["certificate"]
        outcome = "Kompeten" if certificate else "Belum Kompeten"
        print(f"assessed   {member['full_name']:16} {outcome:15}"
              f"{certificate['number'] if certificate else ''}")
        if certificate:
            certificates[certificate["number"]] = certificate
    number, certificate = next(iter(certificates.items()))
    verify_over_http(config, number, certificate["credential"])
    return certificates


def apply_once_training_is_known(rpc, data, seconds=15):
    """Certification learns of the training from events' attendance_recorded message."""
    deadline = eventlet.hubs.get_hub().clock() + seconds
    while True:
        try:
            return rpc.certification.apply(data)
        except Exception as error:
            if type(error).__name__ != "Forbidden" or eventlet.hubs.get_hub().clock() > deadline:
                raise
            eventlet.sleep(0.2)


def show_inbox(clients, member, someone_else):
    """What the first member sees in the app (a client bound to her): one notice per
    thing that happened, and nothing of anyone else's."""
    app, app_context = clients.add("member-app", ["member"], member_id=member["id"])
    print(f"client     {app}: role member, bound to {member['full_name']}")
    with clients.proxy(app_context) as rpc:
        _show_inbox(rpc, member, someone_else)


def _show_inbox(rpc, member, someone_else):
    expected = {"member_registered", "member_activated", "registration_confirmed",
                "application_submitted", "assessment_completed", "certificate_issued"}
    deadline = eventlet.hubs.get_hub().clock() + 15
    while True:
        items = rpc.notifications.list_inbox(member["id"])["items"]
        if {n["event_type"] for n in items} >= expected or \
                eventlet.hubs.get_hub().clock() > deadline:
            break
        eventlet.sleep(0.3)
    print(f"inbox of {member['full_name']} (newest first):")
    for notification in items:
        print(f"  - {notification['subject']}")
    if not {n["event_type"] for n in items} >= expected:
        raise SystemExit("DEMO FAILED: notifications missing from the inbox")
    try:
        rpc.notifications.list_inbox(someone_else["id"])
        raise SystemExit("DEMO FAILED: a member's app read another member's inbox")
    except Exception as error:
        if type(error).__name__ != "NotFound" and getattr(error, "exc_type", "") != "NotFound":
            raise
    print(f"  (her app asking for {someone_else['full_name']}'s inbox: NotFound, as for "
          "no one at all)")


def show_trail(rpc, clients, number):
    """The city's auditor asks who issued a certificate: the audit trail answers."""
    auditor, auditor_context = clients.add("city-auditor", ["auditor"])
    with clients.proxy(auditor_context) as as_auditor:
        entries = as_auditor.certification.audit_log({"record": number})["items"]
        try:
            as_auditor.certification.revoke(number, "an auditor may not")
            raise SystemExit("DEMO FAILED: an auditor revoked a certificate")
        except Exception as error:
            if "Forbidden" not in (type(error).__name__, getattr(error, "exc_type", "")):
                raise
    issued = [entry for entry in entries if entry["method"] == "certification.record_result"]
    if not issued:
        raise SystemExit(f"DEMO FAILED: the trail does not say who issued {number}")
    print(f"audit      {auditor} asks who issued {number}: {issued[0]['client']} "
          f"({', '.join(issued[0]['roles'])}) at {issued[0]['at'][11:19]} UTC; "
          "revoking it is Forbidden for an auditor")


def verify_over_http(config, number, credential):
    """What a client, a bank or an investor does with a certificate number."""
    from services.certification.signing import verify

    from shared.settings import Settings

    address = Settings.from_config(config).WEB_SERVER_ADDRESS.replace("0.0.0.0", "127.0.0.1")
    with urllib.request.urlopen(f"http://{address}/certificates/{number}", timeout=10) as response:
        view = json.loads(response.read())
    with urllib.request.urlopen(f"http://{address}/.well-known/jwks.json", timeout=10) as response:
        jwks = json.loads(response.read())["keys"]
    # A person who scans the printed QR code: the same URL, a page for browsers.
    page_request = urllib.request.Request(f"http://{address}/certificates/{number}",
                                          headers={"Accept": "text/html"})
    with urllib.request.urlopen(page_request, timeout=10) as response:
        page = response.read().decode()
    title = page.split("<title>", 1)[-1].split("</title>", 1)[0].strip()
    print(f"page       a phone scanning its QR code gets the page \"{title}\"")
    claims = verify(credential, jwks)  # offline: only the published public keys
    print(f"verified   {number} over HTTP: valid={view['valid']}, holder {view['holder_name']};")
    print(f"           its credential's signature checks out offline against the JWKS "
          f"({claims['certificate']['scheme_title']}, until {claims['certificate']['valid_until'][:10]})")


if __name__ == "__main__":
    sys.exit(main())
