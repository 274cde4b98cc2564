"""Who may call what (shared/access.py): tokens, roles, and bound clients, no I/O."""
import ast
import uuid
from pathlib import Path

import pytest

from shared import access
from shared.access import Caller, Client, authorize, check_result, rule_for
from shared.errors import Forbidden, NotFound, ValidationError

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("members", "certification", "events", "notifications")
SIMONE, OTHER = str(uuid.uuid4()), str(uuid.uuid4())
ASSESSOR_ID = str(uuid.uuid4())


def caller(*roles, member_id=None, assessor_id=None):
    return Caller(client="test-client", roles=frozenset(roles), member_id=member_id,
                  assessor_id=assessor_id)


def rpc_methods(service):
    """The names of the @rpc methods in a service's module (and Observable's)."""
    names = []
    for path in (ROOT / "services" / service / "service.py", ROOT / "shared" / "observability.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any(
                    "rpc" in ast.unparse(decorator) for decorator in node.decorator_list):
                names.append(node.name)
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_every_rpc_method_of_every_service_has_a_rule(service):
    methods = rpc_methods(service)
    assert "health" in methods and "audit_log" in methods and len(methods) > 5
    assert [name for name in methods if rule_for(service, name) is None] == []


def test_the_table_names_no_method_that_does_not_exist():
    existing = {f"{service}.{name}" for service in SERVICES for name in rpc_methods(service)}
    listed = {key for key in access.METHOD_RULES if not key.startswith("*.")}
    assert listed - existing == set()


def test_tokens_are_made_fresh_and_only_their_hash_is_kept():
    client_id = uuid.uuid4().hex
    token, hashed = access.new_token(client_id)
    again, _ = access.new_token(client_id)
    assert token != again
    parsed_id, secret = access.parse_token(token)
    assert parsed_id == client_id and secret not in hashed and len(hashed) == 64
    assert access.secret_matches(secret, hashed)
    assert not access.secret_matches(secret[:-1] + ("A" if secret[-1] != "A" else "B"), hashed)


@pytest.mark.parametrize("token, says", [
    (None, "no identity"),
    (42, "must be a string, not int"),
    (["ekc"], "must be a string, not list"),
    ("x" * 201, "too long"),
    ("ekc." + "0" * 32, "malformed"),
    ("ekc." + "g" * 32 + "." + "a" * 43, "malformed"),
    ("Bearer abc", "malformed"),
    ("ekc." + "0" * 32 + "." + "a" * 42, "malformed"),
])
def test_a_token_of_the_wrong_type_or_size_is_forbidden_saying_what_is_wrong(token, says):
    with pytest.raises(Forbidden, match=says) as raised:
        access.parse_token(token)
    if isinstance(token, str) and len(token) > 10:
        assert token not in str(raised.value)  # a secret is never echoed


@pytest.mark.parametrize("user_id", [5, "", "   ", "x" * 201, "line\nbreak", ["a"]])
def test_a_malformed_user_id_is_a_validation_error_naming_it(user_id):
    with pytest.raises(ValidationError) as raised:
        access.read_user_id({"user_id": user_id})
    assert list(raised.value.errors) == ["context_data.user_id"]


def test_on_behalf_of_is_believed_only_from_a_service():
    client = Client(id="a" * 32, name="tool", roles=frozenset({"registrar"}), secret_hash="")
    service = Client(id="b" * 32, name="events", roles=frozenset({"service"}), secret_hash="",
                     kind="service")
    context = {"on_behalf_of": "someone-else", "user_id": "rina"}
    assert access.caller_for(client, context).on_behalf_of is None
    assert access.caller_for(service, context).on_behalf_of == "someone-else"
    assert access.caller_for(client, context).as_actor() == {"client": "tool", "user_id": "rina"}


@pytest.mark.parametrize("method, role", [
    ("members.register", "registrar"), ("members.activate", "registrar"),
    ("members.list", "lsp-admin"), ("certification.revoke", "lsp-admin"),
    ("certification.create_scheme", "lsp-admin"), ("events.check_in", "events-staff"),
    ("events.create_event", "events-staff"), ("notifications.retry_failed", "operator"),
    ("members.stats", "operator"), ("members.health", "operator"),
    ("certification.audit_log", "auditor"), ("members.get", "auditor"),
    ("members.get", "service"),
])
def test_a_role_may_call_what_its_job_needs(method, role):
    service, name = method.split(".")
    arguments = {"member_id": SIMONE}
    assert authorize(rule_for(service, name), caller(role), method, arguments) == arguments


@pytest.mark.parametrize("method, role", [
    ("members.register", "lsp-admin"), ("members.register", "auditor"),
    ("certification.revoke", "registrar"), ("certification.record_result", "lsp-admin"),
    ("events.create_event", "registrar"), ("members.list", "member"),
    ("members.get", "operator"), ("members.register", "service"),
    ("members.activate", "service"), ("certification.audit_log", "operator"),
    ("notifications.retry_failed", "auditor"), ("events.check_in", "member"),
])
def test_outside_its_roles_a_call_is_forbidden_naming_the_roles_it_needs(method, role):
    service, name = method.split(".")
    with pytest.raises(Forbidden) as raised:
        authorize(rule_for(service, name), caller(role), method, {})
    assert method in str(raised.value) and "admin" in str(raised.value)
    assert f"roles: {role}" in str(raised.value)


def test_admin_may_call_everything_and_anyone_may_verify():
    for key, rule in access.METHOD_RULES.items():
        assert authorize(rule, caller("admin"), key, {"x": 1}) == {"x": 1}
    verify = rule_for("certification", "verify")
    assert authorize(verify, None, "certification.verify", {"number": "n"}) == {"number": "n"}
    with pytest.raises(Forbidden, match="needs an identity"):
        authorize(rule_for("members", "get"), None, "members.get", {"member_id": SIMONE})


@pytest.mark.parametrize("method, arguments", [
    ("members.get", {"member_id": OTHER}),
    ("notifications.list_inbox", {"member_id": OTHER, "filters": None}),
    ("notifications.set_preferences", {"member_id": OTHER, "data": {"sms": False}}),
    ("events.register", {"event_id": str(uuid.uuid4()), "member_id": OTHER}),
    ("certification.apply", {"data": {"member_id": OTHER, "scheme_code": "X"}}),
    ("certification.list_applications", {"filters": {"member_id": OTHER}}),
])
def test_another_members_data_is_not_found_for_a_member(method, arguments):
    service, name = method.split(".")
    with pytest.raises(NotFound, match=f"no member {OTHER}"):
        authorize(rule_for(service, name), caller("member", member_id=SIMONE), method,
                  arguments)


def test_a_member_reads_their_own_and_their_lists_are_narrowed_to_them():
    member = caller("member", member_id=SIMONE)
    own = {"member_id": SIMONE}
    assert authorize(rule_for("members", "get"), member, "members.get", own) == own
    narrowed = authorize(rule_for("certification", "list_certificates"), member,
                         "certification.list_certificates", {"filters": {"status": "active"}})
    assert narrowed == {"filters": {"status": "active", "member_id": SIMONE}}
    narrowed = authorize(rule_for("certification", "list_applications"), member,
                         "certification.list_applications", {"filters": None})
    assert narrowed == {"filters": {"member_id": SIMONE}}


def test_an_answer_about_another_member_is_not_found_like_a_missing_record():
    rule = rule_for("certification", "get_certificate")
    member = caller("member", member_id=SIMONE)
    mine = {"number": "CRT-1", "member_id": SIMONE}
    assert check_result(rule, member, mine, {"number": "CRT-1"}) == mine
    with pytest.raises(NotFound) as raised:
        check_result(rule, member, {"number": "CRT-2", "member_id": OTHER}, {"number": "CRT-2"})
    assert str(raised.value) == "no certificate CRT-2"  # as the service says for none
    staff = caller("lsp-admin")
    other = {"number": "CRT-2", "member_id": OTHER}
    assert check_result(rule, staff, other, {"number": "CRT-2"}) == other


def test_a_member_client_without_a_member_is_forbidden():
    with pytest.raises(Forbidden, match="not bound to a member"):
        authorize(rule_for("members", "get"), caller("member"), "members.get",
                  {"member_id": SIMONE})


def test_an_assessor_records_results_only_as_themselves():
    rule = rule_for("certification", "record_result")
    assessor = caller("assessor", assessor_id=ASSESSOR_ID)
    data = {"units": [{"unit_code": "U1", "competent": True}]}
    filled = authorize(rule, assessor, "certification.record_result",
                       {"application_id": "a", "data": data})
    assert filled["data"] == {**data, "assessor_id": ASSESSOR_ID}
    assert "assessor_id" not in data  # the caller's dict is not changed
    same = authorize(rule, assessor, "certification.record_result",
                     {"application_id": "a", "data": {**data, "assessor_id": ASSESSOR_ID}})
    assert same["data"]["assessor_id"] == ASSESSOR_ID
    with pytest.raises(Forbidden, match="only as themselves"):
        authorize(rule, assessor, "certification.record_result",
                  {"application_id": "a", "data": {**data, "assessor_id": str(uuid.uuid4())}})
    with pytest.raises(Forbidden, match="not bound to an assessor"):
        authorize(rule, caller("assessor"), "certification.record_result",
                  {"application_id": "a", "data": data})


def test_the_table_in_the_contract_lists_every_rule():
    """docs/contract.md's table of who may call what is this table (devtools.access)."""
    contract = (ROOT / "docs" / "contract.md").read_text()
    for line in access_table_lines():
        assert line in contract


def access_table_lines():
    from devtools.access import table_rows

    return table_rows()


@pytest.mark.parametrize("service", SERVICES)
def test_a_query_is_never_a_change_to_audit(service):
    """A read-only entrypoint's session refuses to write: a rule saying it changes
    something would make its audit entry fail every call."""
    import importlib
    import inspect

    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

    from shared.entrypoints import ContractRpc

    module = importlib.import_module(f"services.{service}.service")
    [service_cls] = [value for value in vars(module).values()
                     if inspect.isclass(value) and getattr(value, "name", None) == service]
    queries = [name for name, member in inspect.getmembers(service_cls)
               for extension in getattr(member, ENTRYPOINT_EXTENSIONS_ATTR, ())
               if isinstance(extension, ContractRpc) and extension.read_only]
    assert queries and [name for name in queries if rule_for(service, name).changes] == []
