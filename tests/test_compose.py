"""Checks of docker-compose.yml, its Postgres init script, .env.example and the Dockerfile.

No broker, database or Docker engine needed. The one test that runs Debian's
`docker-compose config` is skipped when that binary is not on PATH.
"""
import os
import re
import shlex
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
TEST_COMPOSE_FILE = ROOT / "tests" / "docker-compose.test.yml"
INIT_SCRIPT = ROOT / "docker" / "postgres" / "init-databases.sh"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# From the contract: nameko service name == folder == database == login.
APP_SERVICES = ("members", "certification", "events", "notifications")
INFRA_SERVICES = ("rabbitmq", "postgres")
TOOL_SERVICES = ("mailcatcher", "prometheus")  # for operators; no app service needs them
PROMETHEUS_CONFIG = ROOT / "docker" / "prometheus" / "prometheus.yml"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}
ENV_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@lru_cache(maxsize=None)
def load_compose(path=COMPOSE_FILE):
    with open(path) as f:
        return yaml.safe_load(f)


def services(path=COMPOSE_FILE):
    return load_compose(path)["services"]


def app_services_in_compose():
    return [name for name in APP_SERVICES if name in services()]


def environment(service):
    """A service's environment as a dict, whichever of the two compose forms it uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {key: ("" if value is None else str(value)) for key, value in env.items()}


def is_secret_reference(value):
    """True when value is one ${VAR} or ${VAR:?msg} reference and nothing else.

    A `${VAR:-default}` does not count: its default would be a literal secret.
    """
    match = ENV_REF.fullmatch(value.strip())
    return bool(match) and match.group("op") in (None, ":?", "?")


def mask_references(text):
    """text with each ${...} reference swapped for a plain placeholder, and the map back.

    A `${X:?message}` holds a '?', ':' and maybe spaces, which would otherwise end a
    URL's netloc early or hide a password from a pattern.
    """
    references = {}

    def placeholder(match):
        token = f"envref{len(references)}x"
        references[token] = match.group(0)
        return token

    return ENV_REF.sub(placeholder, text), references


def parse_url_with_references(url):
    """urlsplit a URL whose parts may be ${...} references."""
    masked, references = mask_references(url)
    return urlsplit(masked), references


def restore(text, references):
    for token, reference in references.items():
        text = text.replace(token, reference)
    return text


def env_var_name(reference):
    return ENV_REF.fullmatch(reference).group("name")


def compose_references():
    """Every ${...} reference in the compose file's values (comments do not count)."""
    def strings(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from strings(key)
                yield from strings(value)
        elif isinstance(node, list):
            for item in node:
                yield from strings(item)
        elif isinstance(node, str):
            yield node

    return [m for text in strings(load_compose()) for m in ENV_REF.finditer(text)]


def read_env_example():
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f".env.example: not KEY=VALUE: {line!r}"
        values[key.strip()] = value.strip()
    return values


def command_tokens(service):
    command = service.get("command")
    return shlex.split(command) if isinstance(command, str) else list(command or [])


def volume_mounts(service):
    """(source, target, read_only) for each of a service's volumes."""
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            yield entry.get("source"), entry["target"], bool(entry.get("read_only"))
        else:
            parts = entry.split(":")
            if len(parts) == 1:
                yield None, parts[0], False
            else:
                yield parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")


def is_bind_mount(source):
    return source.startswith(("/", ".", "~", "$"))


# --- the app services -------------------------------------------------------------

def test_members_service_is_in_compose():
    # Guards the parametrised tests below against silently running for nothing.
    assert "members" in services()


def test_only_known_services_in_compose():
    unknown = set(services()) - set(APP_SERVICES) - set(INFRA_SERVICES) - set(TOOL_SERVICES)
    assert not unknown, f"services not in the contract: {sorted(unknown)}"


@pytest.fixture(params=app_services_in_compose())
def app(request):
    return request.param, services()[request.param]


def test_app_command_follows_the_contract(app):
    name, service = app
    assert command_tokens(service) == [
        "nameko", "run", "--config", "config.yml", f"services.{name}.service"
    ]


def test_app_is_built_from_the_root_dockerfile(app):
    _, service = app
    build = service.get("build")
    context = build.get("context") if isinstance(build, dict) else build
    assert context in (".", "./"), f"build context is {context!r}"


def test_app_amqp_uri_points_at_the_rabbitmq_service(app):
    _, service = app
    env = environment(service)
    assert "AMQP_URI" in env
    parts, references = parse_url_with_references(env["AMQP_URI"])
    assert parts.scheme == "amqp"
    assert parts.hostname == "rabbitmq"
    assert parts.port == 5672
    assert parts.password, "AMQP_URI has no password"
    assert is_secret_reference(restore(parts.password, references)), (
        f"AMQP_URI password must be a ${{...}} reference, got {parts.password!r}"
    )


def test_app_amqp_uri_is_its_own_rabbitmq_login(app):
    name, service = app
    parts, references = parse_url_with_references(environment(service)["AMQP_URI"])
    assert parts.username == name, f"{name} logs in to RabbitMQ as {parts.username!r}"
    password = ENV_REF.fullmatch(restore(parts.password, references))
    assert password.group("name") == f"{name.upper()}_AMQP_PASSWORD"
    # ...and RabbitMQ is given the same variable, to create that login.
    assert password.group("name") in environment(services()["rabbitmq"])


def test_rabbitmq_has_no_guest_and_one_user_per_service():
    rabbitmq = services()["rabbitmq"]
    env = environment(rabbitmq)
    assert not [key for key in env if key.startswith("RABBITMQ_DEFAULT_")]
    assert rabbitmq["entrypoint"][:3] == [
        "/etc/rabbitmq/ekraf/render-definitions.sh",
        "/etc/rabbitmq/ekraf/definitions.template.json", "/tmp/ekraf-definitions.json"]
    mounts = {target: (source, ro) for source, target, ro in volume_mounts(rabbitmq)}
    assert mounts["/etc/rabbitmq/ekraf"] == ("./docker/rabbitmq", True)
    assert mounts["/etc/rabbitmq/conf.d/20-ekraf.conf"] == (
        "./docker/rabbitmq/20-ekraf.conf", True)
    conf = (ROOT / "docker" / "rabbitmq" / "20-ekraf.conf").read_text()
    assert re.search(r"^load_definitions = /tmp/ekraf-definitions.json$", conf, re.M)
    assert re.search(r"^loopback_users.guest = true$", conf, re.M)
    template = (ROOT / "docker" / "rabbitmq" / "definitions.template.json").read_text()
    users = {user["name"] for user in yaml.safe_load(template)["users"]}
    assert users == {"ekraf-admin", *APP_SERVICES}
    assert os.access(ROOT / "docker" / "rabbitmq" / "render-definitions.sh", os.X_OK)


def test_app_db_url_is_its_own_database_and_login(app):
    name, service = app
    env = environment(service)
    key = f"{name.upper()}_DB_URL"
    assert key in env, f"{name} has no {key}"
    parts, references = parse_url_with_references(env[key])
    assert parts.scheme in ("postgresql", "postgresql+psycopg2")
    assert parts.hostname == "postgres"
    assert parts.port == 5432
    assert parts.username == name, f"{key} logs in as {parts.username!r}"
    assert parts.path == f"/{name}", f"{key} names database {parts.path!r}"
    password = restore(parts.password or "", references)
    assert is_secret_reference(password), f"{key} password must be a ${{...}} reference"
    # The same variable the postgres container hands to init-databases.sh, or the
    # login's password and the service's would differ.
    assert env_var_name(password) == f"{name.upper()}_DB_PASSWORD"


def test_app_db_urls_are_not_shared(app):
    name, service = app
    other_keys = {f"{other.upper()}_DB_URL" for other in APP_SERVICES if other != name}
    assert not other_keys & set(environment(service)), f"{name} sees another service's DB URL"


def test_app_waits_for_healthy_broker_and_database(app):
    _, service = app
    depends_on = service.get("depends_on")
    assert isinstance(depends_on, dict), "depends_on needs the long form to carry a condition"
    for dependency in INFRA_SERVICES:
        assert dependency in depends_on
        assert depends_on[dependency].get("condition") == "service_healthy"


def test_app_restarts_and_stops_gracefully(app):
    _, service = app
    restart = service.get("restart") or (
        service.get("deploy", {}).get("restart_policy", {}).get("condition")
    )
    assert restart in ("always", "unless-stopped", "on-failure", "any")
    # nameko finishes in-flight workers on SIGTERM; the default 10s may cut them off.
    assert service.get("stop_grace_period"), "no stop_grace_period"


# --- broker and database ----------------------------------------------------------

@pytest.mark.parametrize("name, probe", [
    ("rabbitmq", "rabbitmq-diagnostics"),
    ("postgres", "pg_isready"),
])
def test_infra_has_a_healthcheck(name, probe):
    healthcheck = services()[name].get("healthcheck") or {}
    assert not healthcheck.get("disable")
    test = healthcheck.get("test")
    command = " ".join(test) if isinstance(test, list) else str(test or "")
    assert probe in command, f"{name} healthcheck does not run {probe}: {command!r}"


@pytest.mark.parametrize("name", INFRA_SERVICES)
def test_infra_restarts(name):
    assert services()[name].get("restart") in ("always", "unless-stopped")


@pytest.mark.parametrize("name, data_dir", [
    ("rabbitmq", "/var/lib/rabbitmq"),
    ("postgres", "/var/lib/postgresql/data"),
])
def test_infra_data_lives_in_a_named_volume(name, data_dir):
    sources = {target: source for source, target, _ in volume_mounts(services()[name])}
    assert data_dir in sources, f"{name}: {data_dir} is not a volume"
    source = sources[data_dir]
    assert source and not is_bind_mount(source), f"{name}: {data_dir} is not a named volume"


def test_named_volumes_are_declared_and_bind_mounts_read_only():
    declared = set(load_compose().get("volumes") or {})
    used = set()
    for name, service in services().items():
        for source, target, read_only in volume_mounts(service):
            assert source, f"{name}: anonymous volume on {target}"
            if is_bind_mount(source):
                # Only config/scripts from the repo; containers must not write to it.
                assert read_only, f"{name}: bind mount {source} is not read-only"
            else:
                assert source in declared, f"{name}: volume {source!r} not declared at top level"
                used.add(source)
    assert declared == used, f"declared but unused volumes: {sorted(declared - used)}"


def test_init_script_is_mounted_into_postgres():
    mounts = {target: (source, ro) for source, target, ro in volume_mounts(services()["postgres"])}
    assert mounts.get("/docker-entrypoint-initdb.d/init-databases.sh") == (
        "./docker/postgres/init-databases.sh", True
    )
    assert os.access(INIT_SCRIPT, os.X_OK), "init script is not executable"


def test_init_script_creates_login_and_database_for_every_app_service():
    script = INIT_SCRIPT.read_text()
    body = re.search(r"create_service_db\(\)\s*\{(.*?)\n\}", script, re.S)
    assert body, "create_service_db() not found"
    sql = body.group(1)
    assert re.search(r'CREATE ROLE :"name" LOGIN PASSWORD :\'password\'', sql)
    assert re.search(r'CREATE DATABASE :"name" OWNER :"name"', sql)
    assert re.search(r'REVOKE ALL ON DATABASE :"name" FROM PUBLIC', sql)
    for name in app_services_in_compose():
        call = rf'^create_service_db {name} "\$\{{?{name.upper()}_DB_PASSWORD\}}?"$'
        assert re.search(call, script, re.M), f"init script does not create {name}"


def test_postgres_receives_every_service_db_password():
    env = environment(services()["postgres"])
    assert is_secret_reference(env.get("POSTGRES_PASSWORD", ""))
    for name in app_services_in_compose():
        key = f"{name.upper()}_DB_PASSWORD"
        assert is_secret_reference(env.get(key, "")), f"postgres gets no {key} reference"
        assert env_var_name(env[key]) == key
    assert "POSTGRES_HOST_AUTH_METHOD" not in env, "auth must not be relaxed outside tests"


# --- secrets ----------------------------------------------------------------------

SECRET_KEY = re.compile(r"PASS|SECRET|TOKEN|KEY", re.I)
# Secrets a deployment may not need at all (no SMTP login with the mail catcher): an
# empty default, `${X:-}`, so that an existing .env without them draws no warning.
OPTIONAL_SECRETS = {"SMTP_PASSWORD"}


def test_no_literal_secrets_in_environment():
    for name, service in services().items():
        for key, value in environment(service).items():
            if key in OPTIONAL_SECRETS:
                assert value == f"${{{key}:-}}", f"{name}.{key} is not ${{{key}:-}}"
            elif SECRET_KEY.search(key) and not key.endswith("_FILE"):
                assert is_secret_reference(value), f"{name}.{key} is not a ${{VAR}} reference"
            if "://" in value:
                parts, references = parse_url_with_references(value)
                if parts.password is not None:
                    password = restore(parts.password, references)
                    assert is_secret_reference(password), f"{name}.{key} embeds a password"


def test_no_literal_passwords_in_compose_text():
    text, references = mask_references(COMPOSE_FILE.read_text())
    # user:password@ in any URL, whatever the key it sits under.
    urls = list(re.finditer(r"://[^\s:/@]+:([^\s:/@]+)@", text))
    assert urls, "no URL with a password found: is this pattern still right?"
    for match in urls:
        password = restore(match.group(1), references)
        assert is_secret_reference(password), f"literal password in {match.group(0)!r}"


def test_env_example_covers_every_required_variable_with_placeholders():
    example = read_env_example()
    required = {m.group("name") for m in compose_references() if m.group("op") in (":?", "?")}
    assert required, "compose requires no variables at all?"
    assert not required - set(example), f"missing in .env.example: {sorted(required - set(example))}"
    for key in required:
        if SECRET_KEY.search(key):
            assert "change-me" in example[key], f".env.example {key} is not an obvious placeholder"
    assert "cp .env.example .env" in ENV_EXAMPLE.read_text()


def _compose_env(values):
    """os.environ without anything compose interpolates, plus the given values."""
    names = {m.group("name") for m in compose_references()}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(values)
    return env


def _docker_compose_config(compose_file, env, tmp_path):
    # An empty --env-file stops a developer's own .env from leaking into the check.
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    return subprocess.run(
        ["docker-compose", "--env-file", str(empty_env_file), "-f", str(compose_file),
         "config", "-q"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


needs_docker_compose = pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="docker-compose binary not on PATH (apt-get install docker-compose) to validate the schema",
)


@needs_docker_compose
def test_docker_compose_validates_with_env_example(tmp_path):
    result = _docker_compose_config(COMPOSE_FILE, _compose_env(read_env_example()), tmp_path)
    assert result.returncode == 0, result.stderr


@needs_docker_compose
def test_docker_compose_refuses_to_run_without_a_password(tmp_path):
    values = read_env_example()
    del values["MEMBERS_DB_PASSWORD"]
    result = _docker_compose_config(COMPOSE_FILE, _compose_env(values), tmp_path)
    assert result.returncode != 0
    assert "MEMBERS_DB_PASSWORD" in result.stderr


@needs_docker_compose
def test_test_compose_file_validates(tmp_path):
    result = _docker_compose_config(TEST_COMPOSE_FILE, _compose_env({}), tmp_path)
    assert result.returncode == 0, result.stderr


# --- tests/docker-compose.test.yml ------------------------------------------------

@pytest.mark.parametrize("name, probe, ports", [
    ("rabbitmq", "rabbitmq-diagnostics", {"5672", "15672"}),
    ("postgres", "pg_isready", {"5432"}),
])
def test_test_stack_publishes_on_loopback_with_healthchecks(name, probe, ports):
    service = services(TEST_COMPOSE_FILE)[name]
    test = service.get("healthcheck", {}).get("test") or []
    assert probe in " ".join(test if isinstance(test, list) else [test])
    published = [str(p) for p in service.get("ports") or []]
    assert published, f"{name} publishes no ports"
    for port in published:
        assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    assert {p.split(":")[1] for p in published} == ports


# --- Dockerfile -------------------------------------------------------------------

def dockerfile_instructions():
    """(INSTRUCTION, arguments) pairs, with line continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            yield instruction.upper(), arguments.strip()


def test_dockerfile_base_image():
    froms = [args for instruction, args in dockerfile_instructions() if instruction == "FROM"]
    assert froms == ["python:3.11-slim"]


def test_dockerfile_runs_as_non_root():
    users = [args for instruction, args in dockerfile_instructions() if instruction == "USER"]
    assert users, "no USER: the services would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_dockerfile_installs_pinned_requirements_before_copying_code():
    instructions = list(dockerfile_instructions())
    install = next(
        (i for i, (ins, args) in enumerate(instructions)
         if ins == "RUN" and "pip install" in args and "-r requirements.txt" in args),
        None,
    )
    assert install is not None, "requirements.txt is not installed"
    copy_requirements = next(
        i for i, (ins, args) in enumerate(instructions)
        if ins == "COPY" and "requirements.txt" in args.split()
    )
    assert copy_requirements < install


def _pins(path):
    """``{normalised name: version}`` of the ``name==version`` lines of a requirements file."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


def test_every_install_is_fully_pinned_through_the_constraints():
    """requirements.txt applies constraints.txt, which the image copies too, and every
    direct pin agrees with it: what make install and the image get cannot drift."""
    requirements = ROOT / "requirements.txt"
    assert "-c constraints.txt" in requirements.read_text().splitlines()
    constraints = _pins(ROOT / "constraints.txt")
    for file in ("requirements.txt", "requirements-dev.txt"):
        for name, version in _pins(ROOT / file).items():
            assert constraints.get(name) == version, f"{file}: {name}=={version} vs constraints"
    copied = [args.split() for ins, args in dockerfile_instructions() if ins == "COPY"]
    assert any("constraints.tx[t]" in args or "constraints.txt" in args for args in copied)


def test_dockerfile_makes_var_writable_for_the_service_user():
    instructions = list(dockerfile_instructions())
    user = next(args for ins, args in reversed(instructions) if ins == "USER").split(":")[0]
    runs = " ".join(args for ins, args in instructions if ins == "RUN")
    assert re.search(r"mkdir -p /app/var\b", runs)
    assert re.search(rf"chown {user}(:\S+)? /app/var\b", runs)


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image():
    patterns = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    for pattern in (".git", ".venv", "var", ".env"):
        assert pattern in patterns, f".dockerignore does not exclude {pattern}"


def test_certification_serves_public_http_and_keeps_its_key():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    certification = compose["services"]["certification"]
    assert certification["environment"]["WEB_SERVER_ADDRESS"].endswith(":8000")
    assert any(str(port).endswith(":8000") for port in certification["ports"])
    assert any(volume.endswith(":/app/var") and volume.split(":")[0] in compose["volumes"]
               for volume in certification["volumes"])


def test_app_healthcheck_asks_the_services_own_health_rpc(app):
    app, service = app
    check = service["healthcheck"]
    assert check["test"][0] == "CMD-SHELL"
    # Compose turns $$ into $; the container's shell expands it to its own name.
    command = check["test"][1].replace("$$", "$").replace(
        '"$EKRAF_SERVICE"', environment(service)["EKRAF_SERVICE"])
    assert shlex.split(command) == ["python", "-m", "shared.health", "--timeout", "5", app]
    assert environment(service)["EKRAF_SERVICE"] == app
    assert int(check["timeout"].rstrip("s")) > 5 and check["retries"] >= 1


def test_app_serves_metrics_and_prometheus_scrapes_every_service(app):
    app, service = app
    assert environment(service)["METRICS_ADDRESS"] == "0.0.0.0:9100"
    prometheus = services()["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    assert "./docker/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in \
        prometheus["volumes"]
    with open(PROMETHEUS_CONFIG) as f:
        scrape = yaml.safe_load(f)["scrape_configs"]
    targets = [target for job in scrape for config in job["static_configs"]
               for target in config["targets"]]
    assert f"{app}:9100" in targets
    assert not any("9100" in port for port in map(str, service.get("ports", [])))


def test_dockerfile_installs_the_ekraf_command_without_new_dependencies():
    installs = [args for ins, args in dockerfile_instructions()
                if ins == "RUN" and "pip install" in args and "-e ." in args]
    assert installs and "--no-deps" in installs[0]


def test_notifications_passes_the_smtp_settings_through_and_defaults_to_the_mail_catcher():
    env = environment(services()["notifications"])
    for key in ("SMTP_HOST", "SMTP_PORT", "SMTP_FROM", "SMTP_SECURITY", "SMTP_USERNAME",
                "SMTP_PASSWORD", "SMTP_CA_FILE"):
        match = ENV_REF.fullmatch(env.get(key, ""))
        assert match and match.group("name") == key, f"notifications.{key} is not from .env"
    defaults = {key: ENV_REF.fullmatch(env[key]).group("arg") for key in env
                if key.startswith("SMTP_") and ENV_REF.fullmatch(env[key])}
    # Unset in .env: plain SMTP, no login, to the mail catcher (MailHog speaks no TLS).
    assert defaults["SMTP_HOST"] == "mailcatcher" and defaults["SMTP_PORT"] == "1025"
    assert defaults["SMTP_SECURITY"] == "none" and not defaults["SMTP_USERNAME"]
    assert env["SMTP_PASSWORD"] == "${SMTP_PASSWORD:-}"  # optional, and holds no secret
    assert "SMTP_PASSWORD" in read_env_example() and not read_env_example()["SMTP_PASSWORD"]
