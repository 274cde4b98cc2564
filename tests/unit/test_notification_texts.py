"""The notification texts and who they go to, with no I/O."""
import json
import shutil

import pytest

from services.notifications import domain
from shared.envelope import MalformedMessage
from tests.support.samples import (
    CERTIFICATE, EVENT, MEMBER, REGISTRATION, sample, validate,
)



@pytest.mark.parametrize("source, event_type", domain.catalog())
def test_every_sample_is_what_its_producer_sends(source, event_type):
    validate(source, event_type, sample(source, event_type))  # the producer's schema
    domain.check_message(source, event_type, sample(source, event_type))  # and ours


@pytest.mark.parametrize("locale", ["id", "en"])
@pytest.mark.parametrize("source, event_type", domain.catalog())
def test_every_template_renders_from_contract_shaped_data(source, event_type, locale):
    text, used = domain.template_text(source, event_type, locale)
    assert used == locale  # every message type exists in both languages
    subject, body = domain.render(text, domain.template_values(
        text, sample(source, event_type), "Siti Rahmawati", locale))
    assert subject and body and "$" not in subject + body
    assert "Siti Rahmawati" in body


def test_the_catalogue_covers_what_the_contract_requires():
    required = {("members", t) for t in ("member_registered", "member_activated",
                                         "member_suspended", "member_lapsed")} | \
        {("certification", t) for t in ("application_submitted", "assessment_completed",
                                        "certificate_issued", "certificate_expiring",
                                        "certificate_suspended", "certificate_revoked",
                                        "certificate_expired")} | \
        {("events", t) for t in ("registration_confirmed", "registration_waitlisted",
                                 "registration_promoted", "event_cancelled", "event_published")}
    assert required <= set(domain.catalog())


def test_a_missing_field_is_a_malformed_message_not_a_placeholder_in_the_text():
    text, _ = domain.template_text("events", "registration_confirmed", "id")
    data = {k: v for k, v in REGISTRATION.items() if k != "venue"}
    with pytest.raises(MalformedMessage, match="venue"):
        domain.render(text, domain.template_values(text, data, "Siti", "id"))


def test_injection_in_data_is_inserted_as_text():
    text, _ = domain.template_text("members", "member_suspended", "en")
    _, body = domain.render(text, domain.template_values(
        text, {**MEMBER, "reason": "${full_name} {{7*7}} $member_number"}, "Siti", "en"))
    assert "${full_name} {{7*7}} $member_number" in body


def test_dates_in_east_kalimantan_time_and_the_members_language():
    assert domain.format_date("2026-11-28T17:00:00+00:00", "id") == "29 November 2026"
    assert domain.format_date_time("2026-12-05T01:00:00+00:00", "en") == \
        "5 December 2026, 09:00 WITA"


def test_recipients():
    member_id = MEMBER["id"]
    assert domain.recipients("members", "member_activated", MEMBER) == [member_id]
    assert domain.recipients("events", "event_cancelled", {
        "member_ids": [member_id, member_id.upper()]}) == [member_id]
    assert domain.recipients("certification", "certificate_issued", CERTIFICATE) == [member_id]
    assert domain.recipients("events", "event_published", EVENT) is None


@pytest.mark.parametrize("status, city, subsector, wants, event, expected", [
    ("active", "balikpapan", "kuliner", True, {"city": "Balikpapan", "subsectors": []}, True),
    ("active", "Balikpapan", "kuliner", True, {"city": "Balikpapan", "subsectors": ["musik"]},
     False),
    ("pending", "Balikpapan", "kuliner", True, {"city": "Balikpapan", "subsectors": []}, False),
    ("active", "Samarinda", "kuliner", True, {"city": "Balikpapan", "subsectors": []}, False),
    ("active", "Balikpapan", "kuliner", False, {"city": "Balikpapan", "subsectors": []}, False),
])
def test_who_hears_of_a_new_event(status, city, subsector, wants, event, expected):
    assert domain.wants_announcement(status, city, subsector, wants, event) is expected


def test_channels_and_backoff():
    prefs = {"email": True, "sms": False}
    assert domain.channels_for(prefs, True, True, True) == ["in_app", "email"]
    assert domain.channels_for({"email": True, "sms": True}, True, True, False) == \
        ["in_app", "email"]
    assert [domain.next_attempt_delay(n, [5, 30, 120]) for n in (1, 2, 3, 4)] == \
        [5, 30, 120, None]


# -- a message's data is checked before anything is written ---------------------------------

@pytest.mark.parametrize("source, event_type, data, reason", [
    ("certification", "certificate_issued", {}, "data lacks member_id, number"),
    ("members", "member_activated", {}, "data lacks id"),
    ("events", "event_published", {**EVENT, "subsectors": "kuliner"},
     "subsectors must be a list of strings"),
    ("events", "event_published", {k: v for k, v in EVENT.items() if k != "city"},
     "data lacks city"),
    ("events", "event_published", {k: v for k, v in EVENT.items() if k != "subsectors"},
     "data lacks subsectors"),
    ("events", "event_cancelled", sample("events", "event_cancelled", member_ids="abc"),
     "member_ids must be a list of UUIDs"),
    ("events", "event_cancelled",
     sample("events", "event_cancelled", member_ids=[MEMBER["id"], "not-an-id"]),
     "member_ids must be a list of UUIDs"),
    ("certification", "certificate_issued", {**CERTIFICATE, "member_id": 7},
     "member_id must be a UUID"),
    ("certification", "certificate_issued", {**CERTIFICATE, "valid_until": "soon"},
     "valid_until must be an ISO 8601 date-time"),
    ("certification", "certificate_issued", {**CERTIFICATE, "number": ["CRT"]},
     "number must be a string, number, boolean or null"),
    ("certification", "assessment_completed",
     sample("certification", "assessment_completed", outcome="excellent"),
     "outcome must be one of competent, not_yet_competent"),
    ("members", "member_registered", {**MEMBER, "subsector": "sulap"}, "subsector must be one of"),
])
def test_a_message_without_what_it_needs_is_malformed(source, event_type, data, reason):
    with pytest.raises(MalformedMessage, match=reason):
        domain.check_message(source, event_type, data)


def test_what_each_message_needs_comes_from_its_address_and_its_templates():
    assert set(domain.needed_fields("events", "event_published")) == {
        "city", "subsectors", "title", "starts_at", "venue", "description"}
    assert set(domain.needed_fields("certification", "certificate_issued")) == {
        "member_id", "number", "scheme_title", "valid_until", "verify_url"}


# -- words: per locale, beside the templates --------------------------------------------------

def test_every_locale_has_its_words():
    from services.certification.domain import OUTCOMES
    from shared.subsectors import SUBSECTORS

    default = domain.words(domain.DEFAULT_LOCALE)
    assert set(default["names"]["subsector"]) == set(SUBSECTORS)
    assert set(default["names"]["outcome"]) == set(OUTCOMES)
    for locale in domain.locales():
        words = domain.words(locale)
        assert len(words["months"]) == 12 and all(words["months"])
        assert {field: set(names) for field, names in words["names"].items()} == \
            {field: set(names) for field, names in default["names"].items()}, locale
    assert domain.words("en")["names"]["subsector"]["kriya"] == "Crafts"
    assert domain.words("id")["names"]["outcome"]["not_yet_competent"] == "Belum Kompeten"


def test_a_new_language_is_files_and_a_new_message_type_its_templates_and_a_handler(tmp_path):
    """A new language is its folder of templates and words.json. A new message type is
    its templates plus one handler line in NotificationsService (which
    test_notification_handlers checks against the templates): what its data must hold,
    whom it concerns and its texts come from the templates, with no other code."""
    templates = tmp_path / "templates"
    shutil.copytree(domain.TEMPLATE_DIR, templates)
    (templates / "jv").mkdir()
    words = {"months": ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli",
                        "Agustus", "September", "Oktober", "Nopember", "Desember"],
             "names": {field: {code: f"{code} (jv)" for code in names}
                       for field, names in domain.words("id")["names"].items()}}
    (templates / "jv" / "words.json").write_text(json.dumps(words))
    (templates / "jv" / "members.member_registered.txt").write_text(
        "Subject: Sugeng rawuh, $full_name\n\nSubsektor: $subsector_name\n"
        "Didaftar: $created_at_date\n")
    (templates / "id" / "events.registration_cancelled.txt").write_text(
        "Subject: Pendaftaran dibatalkan: $event_title\n\nHalo $full_name, sampai jumpa, "
        "$starts_at_date_time.\n")

    assert "jv" in domain.locales(templates)
    assert ("events", "registration_cancelled") in domain.catalog(templates)
    assert "registration_cancelled" in domain.event_types(templates)

    # The new language, with its own month names and names of codes.
    data = sample("members", "member_registered", created_at="2026-11-28T17:00:00+00:00")
    domain.check_message("members", "member_registered", data, templates)
    text, locale = domain.template_text("members", "member_registered", "jv", templates)
    assert locale == "jv"
    subject, body = domain.render(text, domain.template_values(text, data, "Siti", "jv", templates))
    assert subject == "Sugeng rawuh, Siti"
    assert body == "Subsektor: kuliner (jv)\nDidaftar: 29 Nopember 2026"
    # What its template needs is checked too.
    with pytest.raises(MalformedMessage, match="created_at must be an ISO 8601 date-time"):
        domain.check_message("members", "member_registered", {**data, "created_at": "x"},
                             templates)

    # The new message type: addressed by member_id, in the default language for everyone.
    cancelled = {**REGISTRATION, "status": "cancelled"}
    validate("events", "registration_cancelled", cancelled)
    domain.check_message("events", "registration_cancelled", cancelled, templates)
    assert domain.recipients("events", "registration_cancelled", cancelled) == [MEMBER["id"]]
    text, locale = domain.template_text("events", "registration_cancelled", "jv", templates)
    assert locale == "id"
    subject, body = domain.render(text, domain.template_values(
        text, cancelled, "Siti", locale, templates))
    assert subject == "Pendaftaran dibatalkan: Dialog Publik"
    assert body.endswith("5 Desember 2026, 09:00 WITA.")
    with pytest.raises(MalformedMessage, match="data lacks member_id"):
        domain.check_message("events", "registration_cancelled", {}, templates)
