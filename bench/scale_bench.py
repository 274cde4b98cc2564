"""5. Scale of data: with 100,000 members, members.list pages (filters and q) and
stats; with 100,000 certificates, verify and the HTTP verify endpoint."""
import random
import time
import urllib.request
import uuid
from datetime import timedelta

import sqlalchemy as sa

from bench.load import closed_loop
from bench.report import latency_ms, table
from services.certification.domain import new_certificate_number
from services.certification.models import Application, Certificate
from services.members.models import Member
from shared.access import REGISTRAR
from shared.subsectors import SUBSECTORS
from shared.timeutil import utcnow_precise

CITIES = ["Balikpapan", "Samarinda", "Bontang", "Tenggarong", "Penajam", "Sangatta",
          "Tanjung Redeb", "Paser", "Kutai Barat", "Nusantara"]
FIRST = ["Ahmad", "Siti", "Budi", "Dewi", "Rahmat", "Nur", "Andi", "Ayu", "Hendra", "Rina",
         "Yusuf", "Fitri", "Agus", "Lestari", "Bayu", "Wulan"]
LAST = ["Saputra", "Wijaya", "Pratama", "Hidayat", "Kusuma", "Santoso", "Lubis", "Siregar",
        "Nugroho", "Rahman", "Setiawan", "Putri"]
BATCH = 10_000


def fill_members(stack, count):
    rng = random.Random(7)
    have = stack.scalar("members", "SELECT count(*) FROM members")
    now = utcnow_precise()
    table_ = Member.__table__
    with stack.engines["members"].begin() as connection:
        for start in range(have, count, BATCH):
            rows = []
            for n in range(start, min(count, start + BATCH)):
                status = rng.choices(["active", "pending", "suspended", "lapsed"],
                                     [70, 20, 5, 5])[0]
                created = now - timedelta(minutes=count - n)
                rows.append({
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "member_number": f"EKRAF-2025-{n:06d}" if status != "pending" else None,
                    "full_name": f"{rng.choice(FIRST)} {rng.choice(LAST)} {n}",
                    "email": f"anggota.{n}@example.id", "phone": "+6281234567890",
                    "city": rng.choice(CITIES), "province": "Kalimantan Timur",
                    "subsector": rng.choice(list(SUBSECTORS)),
                    "business_name": f"Usaha {rng.choice(LAST)} {n}" if n % 3 else None,
                    "nib": None, "locale": "id", "status": status,
                    "active_since": created if status != "pending" else None,
                    "valid_until": created + timedelta(days=365) if status != "pending" else None,
                    "created_at": created, "updated_at": created})
            connection.execute(table_.insert(), rows)
    with stack.engines["members"].begin() as connection:
        connection.execute(sa.text("ANALYZE members"))


def _one_real_certificate(stack):
    """A certificate issued the normal way, to copy (the pipeline may have made some)."""
    if stack.scalar("certification", "SELECT count(*) FROM certificates"):
        return
    from nameko.standalone.rpc import ClusterRpcProxy

    from bench.load import active_members
    from bench.pipeline_bench import _applications

    [application], assessor, units, as_assessor = _applications(
        stack, active_members(stack.config, stack.client(REGISTRAR), 1))
    with ClusterRpcProxy(stack.config, timeout=60, context_data=as_assessor) as rpc:
        rpc.certification.record_result(application["id"], {
            "assessor_id": assessor["id"], "units": units})


def fill_certificates(stack, count):
    """Copies of one real certificate (and its application), with new numbers."""
    _one_real_certificate(stack)
    engine = stack.engines["certification"]
    with engine.begin() as connection:
        have = connection.execute(sa.select(sa.func.count()).select_from(Certificate)).scalar()
        template = connection.execute(sa.select(Certificate.__table__).limit(1)).mappings().first()
        application = connection.execute(sa.select(Application.__table__).where(
            Application.id == template["application_id"])).mappings().first()
        for start in range(have, count, BATCH):
            applications, certificates = [], []
            for _ in range(start, min(count, start + BATCH)):
                application_id = str(uuid.uuid4())
                applications.append({**application, "id": application_id})
                certificates.append({**template, "number": new_certificate_number(2026),
                                     "application_id": application_id,
                                     "created_seq": utcnow_precise()})
            connection.execute(Application.__table__.insert(), applications)
            connection.execute(Certificate.__table__.insert(), certificates)
        connection.execute(sa.text("ANALYZE certificates"))
        connection.execute(sa.text("ANALYZE applications"))
        return connection.execute(sa.select(Certificate.number).limit(1000)).scalars().all()


def run(stack, smoke):
    members = 2_000 if smoke else 100_000
    certificates = 500 if smoke else 100_000
    seconds = 0.5 if smoke else 4.0
    config = stack.config
    started = time.monotonic()
    fill_members(stack, members)
    filled_in = time.monotonic() - started
    stack.settle()
    rng = random.Random(11)
    calls = {
        "members.list (first page)": lambda rpc, n, i: rpc.members.list({"limit": 50}),
        "members.list subsector+status": lambda rpc, n, i: rpc.members.list(
            {"subsector": rng.choice(list(SUBSECTORS)), "status": "active", "limit": 50}),
        "members.list city": lambda rpc, n, i: rpc.members.list(
            {"city": rng.choice(CITIES), "limit": 50}),
        "members.list q (name)": lambda rpc, n, i: rpc.members.list(
            {"q": rng.choice(LAST), "limit": 50}),
        "members.list q (rare)": lambda rpc, n, i: rpc.members.list(
            {"q": f"{rng.choice(FIRST)} {rng.choice(LAST)} {rng.randrange(members)}",
             "limit": 50}),
        "members.stats": lambda rpc, n, i: rpc.members.stats(),
    }
    rows, figures = [], {}
    registrar = stack.client(REGISTRAR)  # members.list and stats: a registrar's reads
    for name, call in calls.items():
        rate, latencies, errors = closed_loop(config, 1, seconds, call, registrar, warmup=0.3)
        p50, p95, p99 = latency_ms(latencies)
        figures[name] = (p50, p99)
        rows.append((name, f"{members:,} members", len(latencies), p50, p95, p99, len(errors)))

    numbers = fill_certificates(stack, certificates)
    picks = [rng.choice(numbers) for _ in range(1000)]
    base = stack.http_base

    def http_verify(rpc, n, i):
        with urllib.request.urlopen(f"{base}/certificates/{picks[i % len(picks)]}",
                                    timeout=10) as response:
            response.read()

    for name, call in {
            "certification.verify": lambda rpc, n, i: rpc.certification.verify(
                picks[i % len(picks)]),
            "GET /certificates/<number>": http_verify}.items():
        # verify is public: called with no identity, as anyone checking a certificate
        rate, latencies, errors = closed_loop(config, 1, seconds, call, warmup=0.3)
        p50, p95, p99 = latency_ms(latencies)
        figures[name] = (p50, p99)
        rows.append((name, f"{certificates:,} certificates", len(latencies), p50, p95, p99,
                     len(errors)))
    text = table("Scale of data", ["call", "data", "calls", "p50 ms", "p95 ms", "p99 ms",
                                   "errors"], rows,
                 [f"One client, back to back; {members:,} members written in "
                  f"{filled_in:.0f} s straight into the members database.",
                  "Targets: a list page p50 under 20 ms, stats under 200 ms."])
    return text, figures
