"""The deployment (docker-compose.yml, deploy/, the Dockerfile, .env.example), checked without a Docker engine.

Nothing here starts a container: no engine runs on our machines or in CI. The tests read the files the way
docker compose and the images would (YAML with anchors, `${VAR:-default}` interpolation, bind mounts, COPY lines)
and hold them to what the code reads (Settings), serves (the API's routes and CORS, over real HTTP) and registers
(search attributes). What they cannot see is listed in docs/deploy.md ("What is verified").
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import AliasChoices, SecretStr

from codec import new_key
from settings import Settings
from store import make_engine
from workflows import search_attributes

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SANDBOX_FILE = ROOT / "deploy" / "compose.sandbox.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
SANDBOX: dict[str, Any] = yaml.safe_load(SANDBOX_FILE.read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
C2C_SERVICES = ("worker", "api")

# Variables the vendor images read, from their documentation or templates (checked 2026-11):
DOCUMENTED_ENV = {
    # https://hub.docker.com/_/postgres ("Environment Variables")
    "postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "PGDATA"},
    # temporalio/temporal common/config/config_template_embedded.yaml and docker/scripts/sh/entrypoint.sh
    "temporalio/server": set(
        "DB DB_PORT POSTGRES_SEEDS POSTGRES_USER POSTGRES_PWD DBNAME VISIBILITY_DBNAME BIND_ON_IP"
        " NUM_HISTORY_SHARDS DYNAMIC_CONFIG_FILE_PATH PROMETHEUS_ENDPOINT LOG_LEVEL".split()
    ),
    # temporalio/ui server/config/docker.yaml
    "temporalio/ui": set(
        "TEMPORAL_ADDRESS TEMPORAL_UI_PORT TEMPORAL_DEFAULT_NAMESPACE TEMPORAL_CORS_ORIGINS TEMPORAL_CODEC_ENDPOINT"
        " TEMPORAL_CODEC_PASS_ACCESS_TOKEN TEMPORAL_CODEC_INCLUDE_CREDENTIALS TEMPORAL_CSRF_COOKIE_INSECURE".split()
    ),
    # the temporal CLI (TEMPORAL_ADDRESS) and temporal-sql-tool (SQL_*) in temporalio/admin-tools
    "temporalio/admin-tools": {"TEMPORAL_ADDRESS", "SQL_HOST", "SQL_PORT", "SQL_USER", "SQL_PASSWORD"},
    # Grafana reads GF_<SECTION>_<KEY> for any grafana.ini option
    # (https://grafana.com/docs/grafana/latest/setup-grafana/configure-grafana/, "Override configuration with
    # environment variables"); these are the options [security], [auth.anonymous], [users], [analytics], [dashboards]
    "grafana/grafana": set(
        "GF_SECURITY_ADMIN_PASSWORD GF_AUTH_ANONYMOUS_ENABLED GF_AUTH_ANONYMOUS_ORG_ROLE GF_USERS_ALLOW_SIGN_UP"
        " GF_ANALYTICS_REPORTING_ENABLED GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH".split()
    ),
}
SECRET_SETTING = re.compile(r"secret|password|token|api_key|license_key|payload_keys$")
SECRET_VARIABLE = re.compile(r"PASSWORD|_PWD$|SECRET")


# ---- reading compose the way docker compose does ----------------------------------------------------------


class MissingVariable(LookupError):
    """A `${VAR:?message}` whose variable is unset or empty: docker compose refuses to start."""


@dataclass(frozen=True)
class Reference:
    name: str
    op: str  # "", ":-", "-", ":?", "?", ":+", "+"
    arg: str


REFERENCE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")
BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.DOTALL)


def parse_reference(match: re.Match[str]) -> Reference | None:
    if match["escaped"]:
        return None
    if match["bare"]:
        return Reference(match["bare"], "", "")
    braced = BRACED.fullmatch(match["braced"])
    assert braced, f"unsupported interpolation ${{{match['braced']}}}"
    return Reference(braced["name"], braced["op"] or "", braced["arg"] or "")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation of one value (https://docs.docker.com/reference/compose-file/interpolation/)."""

    def value(match: re.Match[str]) -> str:
        ref = parse_reference(match)
        if ref is None:
            return "$"
        current = env.get(ref.name)
        if ref.op in (":?", "?") and (current is None or (ref.op == ":?" and not current)):
            raise MissingVariable(f"{ref.name}: {ref.arg}")
        if ref.op == ":-":
            return current or ref.arg
        if ref.op == "-":
            return ref.arg if current is None else current
        if ref.op in (":+", "+"):
            return ref.arg if (current if ref.op == ":+" else current is not None) else ""
        return current or ""

    return REFERENCE.sub(value, text)


def resolve(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {key: resolve(item, env) for key, item in node.items()}
    if isinstance(node, list):
        return [resolve(item, env) for item in node]
    return node


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for item in node.values():
            yield from strings(item)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def references(document: Any) -> list[Reference]:
    return [ref for text in strings(document) for m in REFERENCE.finditer(text) if (ref := parse_reference(m))]


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; comments and blank lines skipped."""
    entries = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in entries}


def commented_out_variables(path: Path) -> set[str]:
    return set(re.findall(r"^#\s*([A-Z][A-Z0-9_]*)=", path.read_text(), re.MULTILINE))


def operator_env() -> dict[str, str]:
    """.env as an operator fills it in: every value .env.example leaves empty gets a URL-safe one."""
    filled = {}
    for key, value in read_env_file(ENV_EXAMPLE).items():
        filled[key] = value or ("1100000000" if key.endswith("_ACCOUNT_ID") else f"{key.lower()}-0123456789abcdef")
    return filled


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Compose's merge of an override file: mappings merge key by key, anything else is replaced."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def stack(*, sandbox: bool = False) -> dict[str, dict[str, Any]]:
    """The services as compose runs them for an operator's .env (optionally with the sandbox overlay)."""
    document = merged(COMPOSE, SANDBOX) if sandbox else COMPOSE
    services: dict[str, dict[str, Any]] = resolve(document, operator_env())["services"]
    return services


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment as a mapping, so overlays merge it key by key"
    return {key: str(value) for key, value in env.items()}


def container_env(service: dict[str, Any]) -> dict[str, str]:
    """What the process sees: env_file first, `environment` over it (compose's precedence)."""
    env: dict[str, str] = {}
    for name in service.get("env_file") or []:
        assert name == ".env", "the worker and the API read the operator's .env"
        env.update(operator_env())
    env.update(environment(service))
    return env


def setting_variables() -> set[str]:
    """Every environment variable Settings reads: C2C_{FIELD}, or the field's validation aliases."""
    names = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"C2C_{field_name.upper()}")
    return names


def secret_settings() -> set[str]:
    """Settings typed as secrets (SecretStr, tokens) or named like one."""
    return {
        f"C2C_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if SECRET_SETTING.search(name) or re.search(r"SecretStr|ApiToken", repr(field.annotation))
    }


def is_secret(variable: str) -> bool:
    return variable in secret_settings() or bool(SECRET_VARIABLE.search(variable))


def use_env(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `env` the only settings in this process's environment."""
    for name in list(os.environ):
        if name.startswith(("C2C_", "TEMPORAL_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def settings_from(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> Settings:
    use_env(env, monkeypatch)
    return Settings(_env_file=None, **overrides)


def published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each published port (short syntax)."""
    ports = []
    for spec in service.get("ports") or []:
        *address, host, container = str(spec).split(":")
        ports.append((address[0] if address else "0.0.0.0", int(host), int(container)))
    return ports


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    """(host path, container path) of each bind mount (short syntax, relative to the project directory)."""
    mounts = []
    for spec in service.get("volumes") or []:
        source, target, *_ = str(spec).split(":")
        if source.startswith("."):
            mounts.append(((ROOT / source).resolve(), target))
    return mounts


def host_path(service: dict[str, Any], container_path: str) -> Path | None:
    """The repository file a container path of `service` is bind-mounted from, if any."""
    for source, target in bind_mounts(service):
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return source / container_path[len(target) :].lstrip("/")
    return None


def command_words(service: dict[str, Any]) -> list[str]:
    words: list[Any] = []
    for key in ("entrypoint", "command"):
        value = service.get(key) or []
        words += value if isinstance(value, list) else str(value).split()
    return [str(word) for word in words]


def healthcheck_words(service: dict[str, Any]) -> list[str]:
    return [str(word) for word in (service.get("healthcheck") or {}).get("test") or []]


def image_name(service: dict[str, Any]) -> str:
    return str(service.get("image", "")).rsplit(":", 1)[0]


def one_shot(service: dict[str, Any]) -> bool:
    return str(service.get("restart", "no")) == "no" or str(service.get("restart")).startswith("on-failure")


def dependencies(services: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str, str]]:
    """(service, dependency, condition) for every depends_on entry."""
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        for target, spec in depends.items() if isinstance(depends, dict) else ((t, {}) for t in depends):
            yield name, target, (spec or {}).get("condition", "service_started")


def url_password(text: str) -> str | None:
    try:
        return urlsplit(text).password
    except ValueError:  # not a URL at all
        return None


def dockerfile() -> list[list[str]]:
    """The Dockerfile's instructions as words, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    return [line.split() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def load_healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_healthcheck", ROOT / "deploy" / "healthcheck.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- the stack --------------------------------------------------------------------------------------------


def test_compose_runs_temporal_on_postgresql_its_ui_the_c2c_processes_and_observability() -> None:
    expected = (
        "postgresql temporal-schema temporal temporal-setup temporal-ui worker api otel-collector jaeger prometheus"
    )
    assert set(SERVICES) >= set(expected.split())
    assert SERVICES["worker"]["command"] == ["python", "worker.py"]
    assert SERVICES["api"]["command"] == ["python", "starter.py", "serve"]
    assert environment(SERVICES["temporal"])["DB"] == "postgres12"
    assert environment(SERVICES["temporal"])["POSTGRES_SEEDS"] == "postgresql"


def image_tag(service: dict[str, Any]) -> str:
    return str(service["image"]).rpartition(":")[2]


def test_images_are_pinned_and_the_schema_tools_match_the_server() -> None:
    for name, service in stack(sandbox=True).items():
        if "build" in service:
            continue
        tag = image_tag(service)
        assert re.search(r"\d", tag), f"{name}: pin a version, not {service['image']!r}"
        assert tag != "latest", name
    # The schema the admin tools apply must be the one the server expects.
    for job in ("temporal-schema", "temporal-setup"):
        assert image_tag(SERVICES[job]) == image_tag(SERVICES["temporal"])


def test_every_long_running_service_has_a_healthcheck_and_one_shot_jobs_gate_their_dependents() -> None:
    for services in (stack(), stack(sandbox=True)):
        waits = list(dependencies(services))
        for name, service in services.items():
            if one_shot(service):
                assert not service.get("ports"), f"{name} is a one-shot job: it publishes nothing"
                gated = [waiter for waiter, target, condition in waits if target == name]
                assert gated, f"{name} is a one-shot job nothing waits for"
                continue
            check = service.get("healthcheck") or {}
            assert not check.get("disable"), f"{name}: health check disabled"
            assert check.get("test", [None])[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
        for name, target, condition in waits:
            assert target in services, f"{name} depends on unknown service {target}"
            if one_shot(services[target]):
                assert condition == "service_completed_successfully", f"{name} must wait for {target} to finish"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target} to be healthy: it has no check"
            if condition == "service_completed_successfully":
                assert one_shot(services[target]), f"{name} waits for {target} to exit, but it keeps running"


def test_published_host_ports_do_not_collide_and_the_worker_publishes_none() -> None:
    for services in (stack(), stack(sandbox=True)):
        taken: dict[int, str] = {}
        for name, service in services.items():
            for _, host_port, _ in published(service):
                assert host_port not in taken, f"{name} and {taken[host_port]} both publish host port {host_port}"
                taken[host_port] = name
        # Workers scale (`--scale worker=4`): a fixed host port would let only one of them start.
        assert not services["worker"].get("ports")


def test_published_ports_listen_on_loopback_unless_the_operator_says_otherwise() -> None:
    without_bind_address = {k: v for k, v in operator_env().items() if k != "BIND_ADDRESS"}
    for services in (stack(sandbox=True), resolve(merged(COMPOSE, SANDBOX), without_bind_address)["services"]):
        for address, _, _ in (port for service in services.values() for port in published(service)):
            assert address == "127.0.0.1"


# ---- c2c settings -----------------------------------------------------------------------------------------


def test_every_c2c_variable_in_compose_and_env_example_is_a_real_setting() -> None:
    known = setting_variables()
    documents = (COMPOSE, SANDBOX)
    named = {key for doc in documents for service in doc["services"].values() for key in environment(service)}
    named |= {ref.name for doc in documents for ref in references(doc)}
    named |= set(read_env_file(ENV_EXAMPLE)) | commented_out_variables(ENV_EXAMPLE)
    for variable in sorted(name for name in named if name.startswith("C2C_")):
        assert variable in known, f"{variable} is not a setting (settings.py)"
    for name in C2C_SERVICES:
        for variable in environment(SERVICES[name]):
            assert variable in known, f"{name}: {variable} is not a setting"


def test_worker_and_api_settings_parse_from_what_compose_gives_them(monkeypatch: pytest.MonkeyPatch) -> None:
    for services in (stack(), stack(sandbox=True)):
        for name in C2C_SERVICES:
            settings = settings_from(container_env(services[name]), monkeypatch)
            assert settings.temporal_address == "temporal:7233"
            assert settings.log_format == "json"
            assert urlsplit(settings.database_url).hostname == "postgresql"
    worker = settings_from(container_env(stack()["worker"]), monkeypatch)
    assert (worker.metrics_host, worker.metrics_port) == ("0.0.0.0", 9464)
    api = settings_from(container_env(stack()["api"]), monkeypatch)
    assert api.api_host == "0.0.0.0"
    assert [t.token.get_secret_value() for t in api.tokens()] == [operator_env()["C2C_API_TOKEN"]]
    sandbox = settings_from(container_env(stack(sandbox=True)["worker"]), monkeypatch)
    assert urlsplit(sandbox.stripe_url).hostname == "sandbox"


def test_the_store_connects_as_its_own_role_to_the_database_the_initdb_script_creates() -> None:
    url = urlsplit(environment(stack()["worker"])["C2C_DATABASE_URL"])
    assert (url.hostname, url.port, url.path) == ("postgresql", 5432, "/c2c")
    assert url.username == "c2c"
    assert url.password == operator_env()["STORE_DB_PASSWORD"]
    script = (ROOT / "deploy/postgres/initdb/10-c2c-store.sh").read_text()
    assert "CREATE ROLE c2c LOGIN PASSWORD :'store_password'" in script
    assert "CREATE DATABASE c2c OWNER c2c" in script
    assert ("deploy/postgres/initdb", "/docker-entrypoint-initdb.d") in {
        (str(source.relative_to(ROOT)), target) for source, target in bind_mounts(SERVICES["postgresql"])
    }


# ---- secrets ----------------------------------------------------------------------------------------------


def test_secrets_never_get_a_literal_value_or_default_in_compose() -> None:
    for document in (COMPOSE, SANDBOX):
        for ref in references(document):
            if is_secret(ref.name):
                assert ref.op in ("", ":?", "?"), f"${{{ref.name}{ref.op}…}} gives a secret a default"
        for name, service in document["services"].items():
            for variable, value in environment(service).items():
                if is_secret(variable) and not variable.endswith("_FILE"):
                    assert re.fullmatch(r"\$\{\w+(:?\?[^}]*)?\}", value), f"{name}: {variable} is a literal"
            for text in strings(service):
                if (password := url_password(text)) is not None:
                    assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", password), f"{name}: literal password in a URL"
            for word in command_words(service):
                option, _, value = word.partition("=")
                if option.startswith("--") and re.search(r"secret|password|token|key", option):
                    assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", value), f"{name}: {option} is given a literal"


def test_settings_sandbox_secrets_appear_nowhere_in_the_deployment() -> None:
    defaults = Settings.model_construct()
    known = []
    for name in Settings.model_fields:
        value = getattr(defaults, name)
        if SECRET_SETTING.search(name) and value:
            known.append(value.get_secret_value() if isinstance(value, SecretStr) else str(value))
    texts = [p.read_text() for p in (COMPOSE_FILE, SANDBOX_FILE, ENV_EXAMPLE, ROOT / "Dockerfile")]
    for secret in known:
        assert not any(secret in text for text in texts), f"the sandbox default {secret!r} is in the deployment"


def test_env_example_leaves_every_secret_empty_and_lists_every_required_variable() -> None:
    example = read_env_file(ENV_EXAMPLE)
    for variable, value in example.items():
        if is_secret(variable):
            assert value == "", f".env.example gives {variable} a value: secrets are the operator's"
    required = {ref.name for doc in (COMPOSE, SANDBOX) for ref in references(doc) if ref.op in ("", ":?", "?")}
    assert required <= set(example), f"compose needs {required - set(example)}: list them in .env.example"
    with pytest.raises(MissingVariable):
        resolve(COMPOSE, example)  # compose refuses to start until the operator fills them in
    used = {ref.name for doc in (COMPOSE, SANDBOX) for ref in references(doc)}
    for variable in example:
        assert variable in used or variable in setting_variables(), f".env.example: {variable} is read by nothing"


def test_payload_keys_are_a_docker_secret_kept_out_of_git() -> None:
    secret = COMPOSE["secrets"]["payload_keys"]
    assert Path(secret["file"]).parent == Path("./deploy/secrets")
    ignored = (ROOT / "deploy/secrets/.gitignore").read_text().split()
    assert "*" in ignored
    assert "!.gitignore" in ignored
    for name in C2C_SERVICES:
        assert "payload_keys" in SERVICES[name]["secrets"]
        assert environment(SERVICES[name])["C2C_PAYLOAD_KEYS_FILE"] == "/run/secrets/payload_keys"


def test_the_image_bakes_in_no_settings_or_secrets_and_runs_unprivileged() -> None:
    lines = dockerfile()
    for words in lines:
        if words[0] in ("COPY", "ADD"):
            sources = [w for w in words[1:-1] if not w.startswith("--")]
            assert "." not in sources
            assert not any(s.startswith((".env", "var", "deploy/secrets")) for s in sources), sources
        if words[0] in ("ENV", "ARG"):
            assert not any(is_secret(w.split("=")[0]) or w.startswith("C2C_") for w in words[1:]), words
    users = [words[1] for words in lines if words[0] == "USER"]
    assert users
    assert users[-1] not in ("root", "0")


# ---- what the containers run ------------------------------------------------------------------------------


def test_commands_name_files_and_subcommands_that_exist() -> None:
    import sandbox.__main__ as sandbox_cli
    from cli import finance as starter

    assert (ROOT / "worker.py").is_file()
    commands = {
        command.name or getattr(command.callback, "__name__", "") for command in starter.cli.registered_commands
    }
    assert "serve" in commands
    options = {f"--{name.replace('_', '-')}" for name in inspect.signature(sandbox_cli.main).parameters}
    for word in command_words(SANDBOX["services"]["sandbox"]):
        if word.startswith("--"):
            assert word.split("=")[0] in options, f"python -m sandbox has no option {word}"
    healthcheck = load_healthcheck()
    for name in C2C_SERVICES:
        python, script, role = healthcheck_words(SERVICES[name])[1:]
        assert (python, script, role) == ("python", "deploy/healthcheck.py", name)
        assert role in healthcheck.ROLES


def test_every_mounted_file_and_every_script_a_service_runs_is_in_the_repository() -> None:
    for services in (stack(), stack(sandbox=True)):
        for name, service in services.items():
            for source, _ in bind_mounts(service):
                assert source.exists(), f"{name} mounts {source}, which does not exist"
            for word in command_words(service) + healthcheck_words(service):
                if word.startswith("/") and (path := host_path(service, word)) is not None:
                    assert path.is_file(), f"{name} runs {word}: {path} does not exist"


def scripts_run_by(service: dict[str, Any]) -> list[Path]:
    """Our shell scripts a vendor container runs: its entrypoint/command, and the postgres image's init scripts."""
    scripts = [path for word in command_words(service) if (path := host_path(service, word)) and path.suffix == ".sh"]
    for source, target in bind_mounts(service):
        if target == "/docker-entrypoint-initdb.d":
            scripts += sorted(source.glob("*.sh"))
    return scripts


def variables_read(script: Path) -> set[str]:
    """Upper-case variables a shell script reads and does not set itself."""
    text = script.read_text()
    assigned = set(re.findall(r"^\s*([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))
    return set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", text)) - assigned


def test_scripts_get_every_variable_they_read_and_vendor_images_only_ones_they_document() -> None:
    for name, service in SERVICES.items():
        if "build" in service:
            continue  # our own image: the settings tests above
        env = set(environment(service))
        documented = DOCUMENTED_ENV.get(image_name(service), set())
        read = set().union(*(variables_read(script) for script in scripts_run_by(service)))
        assert read <= env | documented, f"{name}: its scripts read {sorted(read - env - documented)}, never set"
        unknown = env - documented - read
        assert not unknown, f"{name}: {sorted(unknown)} are read by neither {image_name(service)} nor our scripts"


def test_image_copies_every_package_the_project_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    modules = set(project["tool"]["setuptools"]["py-modules"])
    copied = copied_paths()
    for name in packages:
        assert name in copied, f"Dockerfile does not copy {name}/"
    for module in modules:
        assert f"{module}.py" in copied, f"Dockerfile does not copy {module}.py"


def copied_paths() -> set[str]:
    """Paths the Dockerfile copies into /app, as repository paths; each one must exist or the build fails."""
    copied = set()
    for words in dockerfile():
        if words[0] == "COPY":
            for source in (w for w in words[1:-1] if not w.startswith("--")):
                assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
                copied.add(source.rstrip("/"))
    return copied


def first_party_imports(path: Path, names: set[str]) -> set[str]:
    """Top-level first-party modules/packages `path` imports (absolute imports; relative ones stay inside)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & names


def test_image_holds_every_first_party_module_the_containers_import() -> None:
    # Catches a new top-level module (a package or a file like access.py) that the code imports but the image lacks.
    first_party = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name != "tests"}
    first_party |= {p.stem for p in ROOT.glob("*.py")}
    copied = copied_paths()
    pending = ["worker", "starter", "sandbox"]  # docker-compose.yml and the sandbox overlay run these
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        assert name in copied or f"{name}.py" in copied, f"the containers import {name}, the Dockerfile lacks it"
        files = sorted((ROOT / name).rglob("*.py")) if (ROOT / name).is_dir() else [ROOT / f"{name}.py"]
        for file in files:
            pending += sorted(first_party_imports(file, first_party) - seen)
    assert "deploy/healthcheck.py" in copied
    assert first_party_imports(ROOT / "deploy" / "healthcheck.py", first_party) <= seen


# ---- Temporal ---------------------------------------------------------------------------------------------


def test_setup_registers_every_search_attribute_the_saga_sets_in_its_namespace() -> None:
    services = stack()
    setup = environment(services["temporal-setup"])
    pairs = dict(pair.split("=") for pair in setup["SEARCH_ATTRIBUTES"].split())
    expected = {key.name: key.indexed_value_type.name.title() for key in search_attributes.ALL}
    assert pairs == expected
    namespace = read_env_file(ENV_EXAMPLE)["C2C_TEMPORAL_NAMESPACE"]
    assert setup["NAMESPACE"] == environment(services["temporal-ui"])["TEMPORAL_DEFAULT_NAMESPACE"] == namespace
    for name in C2C_SERVICES:
        assert container_env(services[name])["C2C_TEMPORAL_NAMESPACE"] == namespace


def test_dynamic_config_file_is_mounted_where_the_server_looks_and_parses() -> None:
    temporal = SERVICES["temporal"]
    path = host_path(temporal, environment(temporal)["DYNAMIC_CONFIG_FILE_PATH"])
    assert path is not None
    assert path.is_file()
    config = yaml.safe_load(path.read_text())
    assert config["frontend.enableUpdateWorkflowExecution"] == [{"value": True}]  # finance decisions are updates
    for key, values in config.items():
        assert isinstance(values, list), key
        assert all("value" in v for v in values), key


def stub(bin_dir: Path, name: str, body: str = "") -> None:
    """A fake command on PATH that logs its arguments (and stdin) to $STUB_LOG, then runs `body`."""
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\necho "{name} $*" >> "$STUB_LOG"\n{body}\n')
    script.chmod(0o755)


def run_script(
    script: Path, env: Mapping[str, str], bin_dir: Path
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = bin_dir / "calls.log"
    log.touch()
    path = f"{bin_dir}:{os.environ['PATH']}"
    done = subprocess.run(
        ["sh", str(script)], env={**env, "PATH": path, "STUB_LOG": str(log)}, capture_output=True, text=True, timeout=60
    )
    return done, log.read_text().splitlines()


def test_setup_script_creates_the_namespace_and_only_the_missing_search_attributes(tmp_path: Path) -> None:
    stub(
        tmp_path,
        "temporal",
        """case "$*" in
  "operator cluster health") echo "temporal.api.workflowservice.v1.WorkflowService: SERVING" ;;
  "operator namespace describe"*) exit 1 ;;
  "operator search-attribute list"*) printf 'Name Type\\nC2CStage Keyword\\nWorkflowType Keyword\\n' ;;
esac""",
    )
    setup = stack()["temporal-setup"]
    script = host_path(setup, command_words(setup)[-1])
    assert script is not None
    done, calls = run_script(script, environment(setup), tmp_path)
    assert done.returncode == 0, done.stderr
    namespace, retention = environment(setup)["NAMESPACE"], environment(setup)["NAMESPACE_RETENTION"]
    assert f"temporal operator namespace create --namespace {namespace} --retention {retention}" in calls
    created = {line.split("--name ")[1] for line in calls if "search-attribute create" in line}
    assert created == {
        "C2CException --type Keyword",
        "C2CLegalEntity --type Keyword",
        "C2CCurrency --type Keyword",
        "C2CPeriod --type Keyword",
    }


def test_schema_script_sets_up_both_databases_and_tolerates_one_that_exists(tmp_path: Path) -> None:
    stub(tmp_path, "nc")
    # The postgres image already made the database named after its user: `create` fails for it, as at Postgres.
    stub(tmp_path, "temporal-sql-tool", 'case "$*" in *"--db temporal create"*) exit 1 ;; esac')
    schema = stack()["temporal-schema"]
    script = host_path(schema, command_words(schema)[-1])
    assert script is not None
    done, calls = run_script(script, environment(schema), tmp_path)
    assert done.returncode == 0, done.stderr
    tool = "temporal-sql-tool --plugin postgres12"
    for database, kind in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        assert f"{tool} --db {database} setup-schema -v 0.0" in calls
        versioned = f"/etc/temporal/schema/postgresql/v12/{kind}/versioned"
        assert f"{tool} --db {database} update-schema -d {versioned}" in calls


def test_initdb_script_creates_the_store_role_with_the_password_from_the_environment(tmp_path: Path) -> None:
    stub(tmp_path, "psql", 'cat >> "$STUB_LOG"')
    postgres = stack()["postgresql"]
    [script] = scripts_run_by(postgres)
    done, calls = run_script(script, environment(postgres), tmp_path)
    assert done.returncode == 0, done.stderr
    password = environment(postgres)["STORE_DB_PASSWORD"]
    assert f"-v store_password={password}" in calls[0]
    assert "CREATE ROLE c2c LOGIN PASSWORD :'store_password';" in calls
    assert "CREATE DATABASE c2c OWNER c2c;" in calls


# ---- observability ----------------------------------------------------------------------------------------


def test_prometheus_scrapes_every_worker_replica_on_its_metrics_port_and_the_temporal_server() -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    services = stack()
    worker = environment(services["worker"])
    [discovery] = jobs["c2c-worker"]["dns_sd_configs"]
    assert discovery["names"] == ["worker"]
    assert discovery["type"] == "A"
    assert discovery["port"] == int(worker["C2C_METRICS_PORT"])
    assert str(discovery["port"]) in services["worker"]["expose"]
    temporal_metrics = environment(services["temporal"])["PROMETHEUS_ENDPOINT"].rpartition(":")[2]
    assert jobs["temporal"]["static_configs"] == [{"targets": [f"temporal:{temporal_metrics}"]}]
    for job in jobs.values():
        for target in (t for static in job.get("static_configs", []) for t in static["targets"]):
            assert target.split(":")[0] in set(services) | {"localhost"}, f"{job['job_name']}: unknown {target}"
    assert (ROOT / "deploy/prometheus/prometheus.yml", "/etc/prometheus/prometheus.yml") in bind_mounts(
        services["prometheus"]
    )


def test_traces_go_from_the_c2c_processes_through_the_collector_to_jaeger() -> None:
    services = stack()
    collector = services["otel-collector"]
    [(config_path, target)] = [m for m in bind_mounts(collector) if m[1].endswith(".yaml")]
    assert f"--config={target}" in command_words(collector)
    config = yaml.safe_load(config_path.read_text())
    receiver = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    for name in C2C_SERVICES:
        endpoint = environment(services[name])["C2C_OTLP_ENDPOINT"]
        assert urlsplit(endpoint).hostname == "otel-collector"
        assert url_port(endpoint) == int(receiver.rpartition(":")[2])  # OTLP/HTTP, what the SDK exporter speaks
    exporter = config["exporters"]["otlp/jaeger"]["endpoint"]
    host, _, port = exporter.partition(":")
    assert host == "jaeger"
    assert port in services["jaeger"]["expose"]
    pipeline = config["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        assert set(pipeline[kind]) <= set(config[kind]), f"the traces pipeline names an undefined {kind[:-1]}"
    health = config["extensions"]["health_check"]["endpoint"].rpartition(":")[2]
    assert f"http://127.0.0.1:{health}/" in healthcheck_words(collector)
    readers = config["service"]["telemetry"]["metrics"]["readers"]
    own_metrics = readers[0]["pull"]["exporter"]["prometheus"]["port"]
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = [t for job in prometheus["scrape_configs"] for s in job.get("static_configs", []) for t in s["targets"]]
    assert f"otel-collector:{own_metrics}" in targets


# ---- the Temporal UI and the codec endpoint ---------------------------------------------------------------


def test_ui_codec_endpoint_is_the_apis_published_codec_path_and_the_api_admits_the_ui_origin() -> None:
    services = stack()
    ui, api = environment(services["temporal-ui"]), environment(services["api"])
    codec = urlsplit(ui["TEMPORAL_CODEC_ENDPOINT"])
    assert codec.path == "/codec"  # the API serves /codec/decode and /codec/encode
    # The browser makes the call: a compose service name (http://api:8700) would not resolve there.
    assert codec.hostname not in services
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == f"{operator_env()['PUBLIC_API_URL']}/codec"
    [(_, api_host_port, api_container_port)] = published(services["api"])
    assert url_port(ui["TEMPORAL_CODEC_ENDPOINT"]) == api_host_port
    assert api_container_port == int(api["C2C_API_PORT"])
    ui_origin = ui["TEMPORAL_CORS_ORIGINS"]
    [(_, ui_host_port, ui_container_port)] = published(services["temporal-ui"])
    assert url_port(ui_origin) == ui_host_port
    assert ui_container_port == int(ui["TEMPORAL_UI_PORT"])
    assert json.loads(api["C2C_UI_ORIGINS"]) == [ui_origin]


async def test_the_api_configured_by_compose_serves_codec_to_the_ui_origin_only_with_a_token(
    monkeypatch: pytest.MonkeyPatch, own_server: Any, http: httpx.AsyncClient
) -> None:
    from api.app import create_api

    env = container_env(stack()["api"])
    settings = settings_from(env, monkeypatch, payload_keys=new_key())  # the secret file is not mounted here
    api = own_server(create_api(None, None, make_engine("sqlite://"), settings))  # type: ignore[arg-type]
    ui_origin = environment(stack()["temporal-ui"])["TEMPORAL_CORS_ORIGINS"]
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}

    allowed = await http.options(f"{api.url}/codec/decode", headers={"Origin": ui_origin, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ui_origin
    other = await http.options(f"{api.url}/codec/decode", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers

    body = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "e30="}]}
    refused = await http.post(f"{api.url}/codec/encode", json=body, headers={"Origin": ui_origin})
    assert refused.status_code == 401  # C2C_CODEC_ANONYMOUS is off unless the operator turns it on
    token = {"Authorization": f"Bearer {env['C2C_API_TOKEN']}", "Origin": ui_origin}
    sealed = await http.post(f"{api.url}/codec/encode", json=body, headers=token)
    assert sealed.status_code == 200
    assert sealed.json()["payloads"][0]["data"] != "e30="
    opened = await http.post(f"{api.url}/codec/decode", json=sealed.json(), headers=token)
    assert opened.json() == body


# ---- the health check script ------------------------------------------------------------------------------


async def test_api_healthcheck_passes_against_the_real_api_and_fails_when_it_is_gone(
    monkeypatch: pytest.MonkeyPatch, own_server: Any
) -> None:
    from api.app import create_api

    settings = settings_from(container_env(stack()["api"]), monkeypatch)
    api = own_server(create_api(None, None, make_engine("sqlite://"), settings))  # type: ignore[arg-type]
    # Exactly as the container runs it: `python deploy/healthcheck.py api`, settings from the environment.
    env = {**os.environ, "C2C_API_HOST": "0.0.0.0", "C2C_API_PORT": str(url_port(api.url))}
    script = [sys.executable, "deploy/healthcheck.py", "api"]
    assert subprocess.run(script, cwd=ROOT, env=env, capture_output=True, timeout=60).returncode == 0
    api.stop()
    gone = subprocess.run(script, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert gone.returncode == 1
    assert "no 200 from http://127.0.0.1:" in gone.stderr


def metrics_app(status: int) -> FastAPI:
    app = FastAPI()

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse("temporal_num_pollers 1\n", status_code=status)

    return app


def test_worker_healthcheck_asks_the_metrics_endpoint(monkeypatch: pytest.MonkeyPatch, own_server: Any) -> None:
    healthcheck = load_healthcheck()
    for status, expected in ((200, 0), (503, 1)):
        server = own_server(metrics_app(status))
        settings_from({"C2C_METRICS_HOST": "0.0.0.0", "C2C_METRICS_PORT": str(url_port(server.url))}, monkeypatch)
        assert healthcheck.main(["worker"]) == expected
    with pytest.raises(ValueError, match="metrics endpoint is off"):  # nothing would prove the worker is alive
        healthcheck.health_url("worker", Settings(_env_file=None, metrics_port=0))
    assert healthcheck.main(["scheduler"]) == 1


def test_healthcheck_names_bad_settings_without_printing_their_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    healthcheck = load_healthcheck()
    use_env({"C2C_API_TOKENS": '[{"name": "ui", "token": "hunter2-hunter2-hunter2", "scopes": ["nope"]}]'}, monkeypatch)
    assert healthcheck.main(["api"]) == 1
    err = capsys.readouterr().err
    assert "api_tokens" in err
    assert "hunter2" not in err


# ---- the operator's guide ---------------------------------------------------------------------------------


def test_deploy_guide_documents_every_variable_and_says_what_is_not_verified() -> None:
    guide = DEPLOY_DOC.read_text()
    variables = {ref.name for doc in (COMPOSE, SANDBOX) for ref in references(doc)}
    variables |= set(read_env_file(ENV_EXAMPLE)) | {k for n in C2C_SERVICES for k in environment(SERVICES[n])}
    for variable in sorted(variables):
        assert f"`{variable}`" in guide, f"docs/deploy.md does not document {variable}"
    for service in SERVICES:
        assert f"`{service}`" in guide, f"docs/deploy.md does not mention the {service} service"
    assert "## What is verified" in guide
