"""What an audit entry names (shared/audit.py), and its filters, without I/O."""
import json
import uuid
from types import SimpleNamespace

import pytest

from shared import audit
from shared.access import Caller
from shared.errors import ValidationError
from shared.schemas import encode_cursor

MEMBER, EVENT = str(uuid.uuid4()), str(uuid.uuid4())


def test_the_records_a_call_named_answered_with_and_announced_each_once():
    worker = SimpleNamespace()
    audit.note_touched(worker, {"id": MEMBER, "member_number": "EKRAF-2026-000001",
                                "full_name": "Siti Rahmawati", "email": "siti@example.id"})
    audit.note_touched(worker, {"member_ids": [MEMBER, "m2"], "event_id": EVENT})
    records = audit.touched_records(
        {"member_id": MEMBER, "reason": "Iuran belum dibayar",
         "data": {"scheme_code": "DKV-JUNIOR", "full_name": "not a record"}},
        {"application": {"id": "app-1"}, "certificate": {"number": "CRT-2026-X"}}, worker)
    assert records == [MEMBER, "DKV-JUNIOR", "app-1", "CRT-2026-X", "EKRAF-2026-000001",
                       EVENT, "m2"]
    # names, emails and reasons are personal data or prose, not records
    assert not {"Siti Rahmawati", "siti@example.id", "Iuran belum dibayar"} & set(records)


def test_a_call_that_touches_many_records_is_capped():
    worker = SimpleNamespace()
    audit.note_touched(worker, {"member_ids": [str(n) for n in range(20_000)]})
    assert len(audit.touched_records({}, None, worker)) == audit.MAX_RECORDS_PER_ENTRY


def test_an_entry_names_the_client_the_person_and_the_chain():
    caller = Caller(client="front-desk", roles=frozenset({"registrar", "auditor"}),
                    user_id="rina", on_behalf_of=None)
    entry = audit.make_entry(caller, "members.register", [MEMBER], "ok",
                             ["standalone_rpc_proxy.call.1", "members.register.2"])
    assert entry["client"] == "front-desk" and entry["user_id"] == "rina"
    assert json.loads(entry["roles"]) == ["auditor", "registrar"]
    assert json.loads(entry["records"]) == [MEMBER] and entry["detail"] is None
    refused = audit.make_entry(None, "members.get", [], "Forbidden", [], detail="x" * 900)
    assert refused["client"] == "(none)" and len(refused["detail"]) == 500


@pytest.mark.parametrize("filters, field", [
    ("client", "filters"),
    ({"who": "x"}, "who"),
    ({"client": 5}, "client"),
    ({"record": ""}, "record"),
    ({"since": "2026-12-01"}, "since"),
    ({"until": "2026-12-01T10:00:00"}, "until"),
    ({"limit": 0}, "limit"),
    ({"limit": 201}, "limit"),
    ({"limit": True}, "limit"),
    ({"cursor": "not a cursor"}, "cursor"),
    ({"cursor": encode_cursor(["1"])}, "cursor"),
])
def test_bad_filters_are_a_validation_error_naming_the_field(filters, field):
    with pytest.raises(ValidationError) as raised:
        audit._load_filters(filters)
    assert field in raised.value.errors


def test_good_filters_are_read():
    loaded = audit._load_filters({"client": "front-desk", "since": "2026-12-01T00:00:00+08:00",
                                  "limit": 10, "cursor": encode_cursor([41])})
    assert loaded["client"] == "front-desk" and loaded["limit"] == 10 and loaded["after"] == 41
    assert loaded["since"].utcoffset().total_seconds() == 0
