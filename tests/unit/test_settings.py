"""shared.settings: every setting typed and checked in one place, read once per container."""
import dataclasses
import logging
import re
import types

import pytest

from devtools import settings as settings_doc
from shared.config import DEFAULT_CONFIG_FILE, load_config
from shared.settings import (
    LOGGING_SETTINGS, NAMEKO_DEFAULTS, NAMEKO_KEYS, Settings, SettingsError, settings_of,
)

FIELDS = [spec for spec in dataclasses.fields(Settings) if "parse" in spec.metadata]


def config_key(spec):
    return spec.metadata["key"] or spec.name


def test_config_yml_as_it_stands_gives_the_defaults(monkeypatch):
    for spec in FIELDS:
        monkeypatch.delenv(spec.name, raising=False)
    assert Settings.from_config(load_config()) == Settings()


def test_config_yml_passes_every_setting_through_and_knows_no_other():
    keys = set(load_config())
    assert keys - NAMEKO_KEYS == {config_key(spec) for spec in FIELDS} - NAMEKO_KEYS
    assert {"AMQP_URI", "WEB_SERVER_ADDRESS", "max_workers", "LOGGING"} <= keys


def test_config_yml_names_a_default_only_where_nameko_reads_it_first():
    """Everything else is ``${VAR:}``: its default is the one in Settings, nowhere else."""
    lines = DEFAULT_CONFIG_FILE.read_text().splitlines()
    text = "\n".join(line.partition("#")[0] for line in lines)  # comments do not count
    defaults = dict(re.findall(r"\$\{([A-Z_]+):([^}]*)\}", text))
    documented = {spec.name: spec.default for spec in FIELDS}
    documented.update({item.name: item.default for item in LOGGING_SETTINGS})
    assert set(defaults) == set(documented)
    for name, default in defaults.items():
        if name in NAMEKO_DEFAULTS or name in {item.name for item in LOGGING_SETTINGS}:
            assert default == str(documented[name]), name
        else:
            assert default == "", f"config.yml repeats {name}'s default: make it ${{{name}:}}"


def test_every_setting_says_what_it_does_who_reads_it_and_how_compose_sets_it():
    for spec in FIELDS:
        for key in ("doc", "used_by", "compose"):
            assert spec.metadata[key], f"{spec.name} has no {key}"
        assert re.fullmatch(r"[A-Z][A-Z0-9_]+", spec.name)


def test_the_settings_table_in_operations_md_is_generated_from_them():
    assert settings_doc.check() == 0
    table = settings_doc.render_table()
    for spec in FIELDS:
        assert f"| `{spec.name}` |" in table


@pytest.mark.parametrize("config, expected", [
    ({"OUTBOX_POLL_SECONDS": "0.5"}, {"OUTBOX_POLL_SECONDS": 0.5}),
    ({"OUTBOX_POLL_SECONDS": 3}, {"OUTBOX_POLL_SECONDS": 3.0}),
    ({"OUTBOX_BATCH_SIZE": "50", "max_workers": 4},
     {"OUTBOX_BATCH_SIZE": 50, "MAX_WORKERS": 4}),
    ({"HANDLER_RETRY_DELAYS_MS": "200,400"}, {"HANDLER_RETRY_DELAYS_MS": (200, 400)}),
    ({"HANDLER_RETRY_DELAYS_MS": 100}, {"HANDLER_RETRY_DELAYS_MS": (100,)}),
    ({"HANDLER_RETRY_DELAYS_MS": [100, "100", 300.0]},
     {"HANDLER_RETRY_DELAYS_MS": (100, 100, 300)}),
    ({"NOTIFY_RETRY_DELAYS_SECONDS": ["5", 30, 30.0, 120]},
     {"NOTIFY_RETRY_DELAYS_SECONDS": (5, 30, 30, 120)}),
    ({"NOTIFY_RETRY_DELAYS_SECONDS": []}, {"NOTIFY_RETRY_DELAYS_SECONDS": ()}),  # no retries
    ({"SMTP_SECURITY": " StartTLS ", "SMTP_USERNAME": "u", "SMTP_PASSWORD": 123},
     {"SMTP_SECURITY": "starttls", "SMTP_USERNAME": "u", "SMTP_PASSWORD": "123"}),
    ({"SMTP_PORT": "587"}, {"SMTP_PORT": 587}),
    ({"METRICS_ADDRESS": "127.0.0.1:9101"}, {"METRICS_ADDRESS": "127.0.0.1:9101"}),
    ({"METRICS_ADDRESS": ""}, {"METRICS_ADDRESS": None}),  # ${VAR:} unset: the default
    ({"VAR_DIR": None}, {"VAR_DIR": "var"}),
])
def test_values_are_read_from_text_or_as_python_gives_them(config, expected):
    settings = Settings.from_config(config)
    for name, value in expected.items():
        assert getattr(settings, name) == value


@pytest.mark.parametrize("config, message", [
    ({"OUTBOX_POLL_SECONDS": "abc"}, "OUTBOX_POLL_SECONDS must be a number greater than 0; "
                                     "got 'abc'"),
    ({"RPC_TIMEOUT_SECONDS": 0}, "RPC_TIMEOUT_SECONDS must be a number greater than 0"),
    ({"OUTBOX_RETENTION_HOURS": "-1"}, "OUTBOX_RETENTION_HOURS must be a number greater"),
    ({"NOTIFY_POLL_SECONDS": True}, "NOTIFY_POLL_SECONDS must be a number"),
    ({"OUTBOX_BATCH_SIZE": "2.5"}, "OUTBOX_BATCH_SIZE must be a whole number greater than 0"),
    ({"max_workers": "many"}, "MAX_WORKERS must be a whole number greater than 0; got 'many'"),
    ({"SMTP_PORT": 70000}, "SMTP_PORT must be a port number (1-65535); got 70000"),
    ({"HANDLER_RETRY_DELAYS_MS": "5000,1000"},
     "HANDLER_RETRY_DELAYS_MS must be positive delays in whole milliseconds, each at least "
     "the one before it (e.g. 1000,5000,30000); got 5000,1000"),
    ({"HANDLER_RETRY_DELAYS_MS": "1000,soon"}, "HANDLER_RETRY_DELAYS_MS must be positive"),
    ({"HANDLER_RETRY_DELAYS_MS": "0.5"}, "HANDLER_RETRY_DELAYS_MS must be whole milliseconds"),
    ({"NOTIFY_RETRY_DELAYS_SECONDS": "5,30,1"},
     "NOTIFY_RETRY_DELAYS_SECONDS must be positive delays in seconds, each at least the one "
     "before it (e.g. 5,30,120,600); got 5,30,1"),
    ({"NOTIFY_RETRY_DELAYS_SECONDS": [0, 5]}, "NOTIFY_RETRY_DELAYS_SECONDS must be positive"),
    ({"NOTIFY_RETRY_DELAYS_SECONDS": -1}, "NOTIFY_RETRY_DELAYS_SECONDS must be positive"),
    ({"SMTP_SECURITY": "ssl"}, "SMTP_SECURITY must be one of none, starttls, tls; got 'ssl'"),
    ({"TRUSTED_PROXIES": "10.0.0.5,proxy.example"},
     "TRUSTED_PROXIES: 'proxy.example' is not an address or network (e.g. 10.0.0.5 or "
     "172.16.0.0/12)"),
    ({"METRICS_ADDRESS": "localhost"}, "METRICS_ADDRESS must be host:port"),
    ({"METRICS_ADDRESS": "localhost:http"}, "METRICS_ADDRESS must be host:port"),
    ({"WEB_SERVER_ADDRESS": "0.0.0.0:99999"}, "WEB_SERVER_ADDRESS must be host:port"),
    ({"PUBLIC_BASE_URL": "sertifikat.example"}, "PUBLIC_BASE_URL must be an http:// or https://"),
    ({"SMS_WEBHOOK_URL": "ftp://gateway/"}, "SMS_WEBHOOK_URL must be an http:// or https://"),
    ({"OUTBOX_POLL_SECOND": 1}, "OUTBOX_POLL_SECOND is not a setting (a typo?)"),
    ({"MAX_WORKERS": 4}, "MAX_WORKERS is not a setting (the config key is max_workers)"),
    # The rules the SMTP sender had, kept word for word.
    ({"SMTP_USERNAME": "relay-user", "SMTP_PASSWORD": "s3cret"},
     "SMTP_USERNAME is set but SMTP_SECURITY is none: refusing to send the SMTP password "
     "over an unencrypted connection; set SMTP_SECURITY=starttls (port 587) or tls (port 465)"),
    ({"SMTP_SECURITY": "tls", "SMTP_USERNAME": "relay-user"},
     "SMTP_USERNAME is set but SMTP_PASSWORD is empty"),
    ({"SMTP_SECURITY": "tls", "SMTP_PASSWORD": "s3cret"},
     "SMTP_PASSWORD is set but SMTP_USERNAME is not"),
    ({"SMTP_CA_FILE": "/etc/ca.pem"}, "SMTP_CA_FILE is set but SMTP_SECURITY is none"),
])
def test_a_bad_value_is_refused_naming_the_variable(config, message):
    with pytest.raises(SettingsError, match=re.escape(message)) as refused:
        Settings.from_config(config)
    assert "s3cret" not in str(refused.value)
    assert isinstance(refused.value, ValueError)


def test_secrets_are_never_shown():
    settings = Settings.from_config({
        "SMTP_SECURITY": "tls", "SMTP_USERNAME": "relay-user", "SMTP_PASSWORD": "s3cret",
        "AMQP_URI": "amqp://svc:amqp-pw@broker/", "MEMBERS_DB_URL": "postgresql://m:db-pw@h/m"})
    shown = repr(settings)
    for secret in ("s3cret", "amqp-pw", "db-pw"):
        assert secret not in shown
    assert "relay-user" in shown


def test_a_service_other_than_the_four_has_its_own_database_setting(tmp_path):
    settings = Settings.from_config({"MEMBERS_DB_URL": "postgresql://m@h/m",
                                     "LEDGER_TEST_DB_URL": "postgresql://l@h/l"},
                                    service_name="ledger_test")
    assert settings.db_url("members") == "postgresql://m@h/m"
    assert settings.db_url("ledger_test") == "postgresql://l@h/l"
    assert settings.db_url("events") is None
    empty = Settings.from_config({"LEDGER_TEST_DB_URL": ""}, service_name="ledger_test")
    assert empty.db_url("ledger_test") is None


@pytest.mark.parametrize("typo", ["MEMBER_DB_URL", "EVENT_DB_URL", "LEDGER_TEST_DB_URL"])
def test_a_database_setting_no_service_reads_is_a_typo_that_stops_the_service(typo):
    with pytest.raises(SettingsError, match=f"{typo} is not a setting"):
        Settings.from_config({typo: "postgresql://h/db"}, service_name="members")


def test_a_container_reads_its_settings_once_and_a_bad_value_is_logged_once(caplog):
    container = types.SimpleNamespace(config={"OUTBOX_POLL_SECONDS": "0.5"},
                                      service_name="members")
    first = settings_of(container)
    container.config["OUTBOX_POLL_SECONDS"] = "7"
    assert settings_of(container) is first and first.OUTBOX_POLL_SECONDS == 0.5

    broken = types.SimpleNamespace(config={"OUTBOX_POLL_SECONDS": "abc"},
                                   service_name="events")
    with caplog.at_level(logging.ERROR, logger="shared.settings"):
        for _ in range(3):  # every extension asks; the operator reads it once
            with pytest.raises(SettingsError, match="OUTBOX_POLL_SECONDS"):
                settings_of(broken)
    lines = [record.getMessage() for record in caplog.records]
    assert lines == ["events cannot start: OUTBOX_POLL_SECONDS must be a number greater "
                     "than 0; got 'abc'"]


def test_the_timer_interval_is_the_setting_it_names():
    from shared.entrypoints import ConfiguredTimer

    timer = ConfiguredTimer("MEMBERSHIP_EXPIRY_CHECK_SECONDS")
    timer.container = types.SimpleNamespace(config={"MEMBERSHIP_EXPIRY_CHECK_SECONDS": "0.5"})
    timer.setup()
    assert timer.interval == 0.5
    default = ConfiguredTimer("CERTIFICATE_EXPIRY_CHECK_SECONDS")
    default.container = types.SimpleNamespace(config={})
    default.setup()
    assert default.interval == 86400
