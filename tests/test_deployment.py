"""docker-compose.yml and the Dockerfile, checked without a Docker engine: they must match the code."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from settings import Settings
from workflows import search_attributes

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_temporal_its_ui_the_store_workers_and_the_api() -> None:
    assert {"temporal", "temporal-ui", "temporal-setup", "postgresql", "worker", "api"} <= set(COMPOSE["services"])
    assert COMPOSE["services"]["api"]["command"] == ["python", "starter.py", "serve"]
    assert COMPOSE["services"]["worker"]["command"] == ["python", "worker.py"]


def test_compose_environment_names_real_settings() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for service in ("worker", "api"):
        for variable in COMPOSE["services"][service]["environment"]:
            assert variable.startswith("C2C_")
            assert variable.removeprefix("C2C_") in fields, f"{service}: {variable} is not a setting"
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            variable = line.split("=", 1)[0]
            assert variable.removeprefix("C2C_") in fields, f".env.example: {variable} is not a setting"


def test_compose_registers_every_search_attribute_the_saga_sets() -> None:
    command = " ".join(COMPOSE["services"]["temporal-setup"]["command"])
    registered = set(re.findall(r"--name (\w+) --type Keyword", command))
    assert registered == {key.name for key in search_attributes.ALL}


def test_image_copies_every_package_the_project_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    modules = set(project["tool"]["setuptools"]["py-modules"])
    copied = " ".join(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY"))
    for name in packages:
        assert f"COPY {name} {name}" in copied, f"Dockerfile does not copy {name}/"
    for module in modules:
        assert f"{module}.py" in copied, f"Dockerfile does not copy {module}.py"
