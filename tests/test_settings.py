"""A bad setting stops ``nameko run`` at start, naming the variable, in every service.

Each service here is started as operators start it (``nameko run --config
config.yml services.<name>.service``) with one setting wrong; it must exit non-zero
within seconds, its output naming the variable and the value (never a password)."""
import pytest

from tests.support.services import REPO_ROOT, run_until_it_stops

SERVICES = ("members", "certification", "events", "notifications")


@pytest.mark.parametrize("service", SERVICES)
def test_a_malformed_value_stops_every_service_at_start(service, base_config, tmp_path):
    code, output = run_until_it_stops(
        service, {"AMQP_URI": base_config["AMQP_URI"], "OUTBOX_POLL_SECONDS": "abc"}, tmp_path)
    assert code != 0
    assert (f"{service} cannot start: OUTBOX_POLL_SECONDS must be a number greater than 0; "
            "got 'abc'") in output
    assert "SettingsError: OUTBOX_POLL_SECONDS" in output  # and nothing started after it


def test_a_shrinking_retry_schedule_stops_the_service(base_config, tmp_path):
    code, output = run_until_it_stops("events", {
        "AMQP_URI": base_config["AMQP_URI"], "HANDLER_RETRY_DELAYS_MS": "5000,1000"}, tmp_path)
    assert code != 0 and "HANDLER_RETRY_DELAYS_MS must be positive delays" in output


def test_a_smtp_password_is_never_shown_when_the_login_is_refused(base_config, tmp_path):
    code, output = run_until_it_stops("notifications", {
        "AMQP_URI": base_config["AMQP_URI"], "SMTP_SECURITY": "ssl",
        "SMTP_USERNAME": "relay-user", "SMTP_PASSWORD": "s3cret-password"}, tmp_path)
    assert code != 0 and "SMTP_SECURITY must be one of none, starttls, tls; got 'ssl'" in output
    assert "s3cret-password" not in output


def test_a_key_in_config_yml_that_is_not_a_setting_stops_the_service(base_config, tmp_path):
    config = tmp_path / "config.yml"
    config.write_text((REPO_ROOT / "config.yml").read_text()
                      + "OUTBOX_POLL_SECOND: ${OUTBOX_POLL_SECOND:1}\n")
    code, output = run_until_it_stops("members", {"AMQP_URI": base_config["AMQP_URI"]},
                                      tmp_path, config_file=config)
    assert code != 0 and "OUTBOX_POLL_SECOND is not a setting (a typo?)" in output
