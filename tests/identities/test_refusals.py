"""Calls the running services refuse: no identity, a token that is malformed, forged,
revoked or rotated, a role outside the method's rule. Each is ``Forbidden`` saying
what is missing, and changes nothing: no record, no message."""
import time

from shared.registry import rotate_secret
from tests.identities.calling import (
    UNKNOWN_TOKEN, calling_as, client_id_of, forbidden, forged,
)
from tests.support.calls import outcome_of, validation_fields
from tests.support.factories import issue_certificate, member_data, tag
from tests.support.identities import client_name, new_client, registry_engine, revoke
from tests.support.waiting import wait_until

def test_every_refusal_says_what_is_missing_and_registers_no_one(base_config, rpc,
                                                                  member_messages):
    registrar = new_client(["registrar"])
    lsp_admin = new_client(["lsp-admin"])
    cases = [
        (None, "no identity: send context data auth_token"),
        ({"auth_token": 12345}, "auth_token must be a string, not int"),
        ({"auth_token": "ekc." + "a" * 300}, "auth_token is too long (at most 200 characters)"),
        ({"auth_token": "ekc.not-hex.short"}, "auth_token is malformed: expected ekc.<32 hex"),
        (forged(), UNKNOWN_TOKEN),  # nobody's id
        (forged(client_id_of(registrar)), UNKNOWN_TOKEN),  # a registrar's id, a wrong secret
        (lsp_admin, f"client {client_name(lsp_admin)} (roles: lsp-admin) may not call "
                    "members.register; it needs one of the roles: admin, registrar"),
    ]
    marker = tag()
    refused = []
    for number, (context, expected) in enumerate(cases):
        data = member_data(full_name=f"Ditolak {marker} {number}")
        with calling_as(base_config, context) as proxy:
            message = forbidden(proxy.members.register, data)
        assert expected in message, (context, message)
        token = (context or {}).get("auth_token")
        if isinstance(token, str) and context is not lsp_admin:
            assert token.split(".")[-1] not in message  # never repeated back
        refused.append(data["email"])

    # No member was made...
    assert rpc.members.list({"q": marker})["items"] == []
    # ...and no message sent: a member registered after them is announced, and the
    # outbox relays in commit order, so any message of theirs would be here by now.
    after = rpc.members.register(member_data())
    member_messages.wait_for("member_registered", id=after["id"])
    assert not [m for m in member_messages.of_type("member_registered")
                if m["data"]["email"] in refused]
    # The registrar whose secret was guessed at still works.
    with calling_as(base_config, registrar) as proxy:
        assert proxy.members.get(after["id"])["id"] == after["id"]


def test_a_malformed_user_id_is_refused_as_invalid_input(base_config, rpc):
    registrar = new_client(["registrar"])
    marker = tag()
    for number, user_id in enumerate(("", "   ", 42, "r" * 201, "rina\n")):
        with calling_as(base_config, {**registrar, "user_id": user_id}) as proxy:
            fields = validation_fields(
                proxy.members.register, member_data(full_name=f"Ditolak {marker} {number}"))
        assert list(fields) == ["context_data.user_id"], (user_id, fields)
    assert rpc.members.list({"q": marker})["items"] == []


def test_a_refused_revocation_leaves_the_certificate_active(base_config, rpc,
                                                             certification_setup,
                                                             certificate_messages):
    _, certificate = issue_certificate(rpc, *certification_setup)
    number = certificate["number"]
    registrar = new_client(["registrar"])
    for context, expected in ((registrar, f"client {client_name(registrar)} (roles: "
                                          "registrar) may not call certification.revoke; it "
                                          "needs one of the roles: admin, lsp-admin"),
                              (forged(), UNKNOWN_TOKEN), (None, "no identity")):
        with calling_as(base_config, context) as proxy:
            assert expected in forbidden(proxy.certification.revoke, number, "dicabut paksa")
    assert rpc.certification.get_certificate(number)["status"] == "active"
    with calling_as(base_config, None) as anyone:  # verifying needs no identity
        assert anyone.certification.verify(number)["status"] == "active"
    # A revocation made after them is announced; theirs never was.
    _, other = issue_certificate(rpc, *certification_setup)
    rpc.certification.revoke(other["number"], "penanda")
    certificate_messages.wait_for("certificate_revoked", number=other["number"])
    assert certificate_messages.of_type("certificate_revoked", number=number) == []


def test_a_revoked_client_is_refused_within_10_seconds(base_config, rpc, members_service):
    registrar = new_client(["registrar"])
    with calling_as(base_config, registrar) as proxy:
        assert proxy.members.list({"limit": 1})["items"] is not None  # works before
        revoke(registrar)
        revoked_at = time.monotonic()
        wait_until(lambda: outcome_of(proxy.members.list, {"limit": 1}) == "Forbidden",
                   timeout=15, interval=0.1, message="the revoked client refused")
        took = time.monotonic() - revoked_at
        assert took < 10, took
        # Refused for good, for a change too, and saying why.
        data = member_data()
        assert UNKNOWN_TOKEN in forbidden(proxy.members.register, data)
    assert rpc.members.list({"q": data["full_name"]})["items"] == []


def test_a_rotated_secret_works_at_once_and_the_old_one_is_refused(base_config,
                                                                    members_service):
    old = new_client(["registrar"])
    with calling_as(base_config, old) as proxy:
        assert outcome_of(proxy.members.list, {"limit": 1}) == "ok"  # known to members now
    _, token = rotate_secret(registry_engine(), client_name(old))
    rotated_at = time.monotonic()
    new = {"auth_token": token}
    assert client_id_of(new) == client_id_of(old)  # the same client, a new secret
    with calling_as(base_config, new) as new_proxy:
        member = new_proxy.members.register(member_data())  # at once, no refresh waited for
    assert member["status"] == "pending"
    with calling_as(base_config, old) as old_proxy:
        wait_until(lambda: outcome_of(old_proxy.members.list, {"limit": 1}) == "Forbidden",
                   timeout=15, interval=0.1, message="the old secret refused")
        took = time.monotonic() - rotated_at
        assert took < 10, took
        assert UNKNOWN_TOKEN in forbidden(old_proxy.members.register, member_data())
