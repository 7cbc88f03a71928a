"""Installing as docs/install.md says: its scope table is the manifest's, compose.yaml runs
the migrations before Firewatch and checks /health/ready, the tested versions are pinned
where the image and CI install, and the image's license is the project's.

The files are read as they are in the checkout (never a copy), so a change to one of them
that the others do not follow fails here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
INSTALL_MD = REPO / "docs" / "install.md"
MANIFEST = REPO / "manifest.yaml"
COMPOSE = REPO / "compose.yaml"
CONSTRAINTS = REPO / "constraints.txt"
DOCKERFILE = REPO / "Dockerfile"
CI_RUN = REPO / ".ci" / "run"
SCOPES_HEADING = "## What the app is allowed to do (scopes)"


def _section(markdown: str, heading: str) -> str:
    assert heading in markdown, f"docs/install.md has no heading {heading!r}"
    rest = markdown.split(heading, 1)[1]
    return re.split(r"^## ", rest, maxsplit=1, flags=re.MULTILINE)[0]


def documented_bot_scopes() -> list[str]:
    """The first column of the scope table in docs/install.md, in order."""
    section = _section(INSTALL_MD.read_text(encoding="utf-8"), SCOPES_HEADING)
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert rows, "docs/install.md's scope section has no table"
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert header[0] == "Bot scope", f"the scope table's first column is {header[0]!r}"
    scopes = []
    for row in rows[2:]:  # after the header and its --- line
        cell = row.strip("|").split("|")[0].strip()
        match = re.fullmatch(r"`([a-z_.:]+)`", cell)
        assert match, f"a scope table row should start with a `scope`: {row!r}"
        scopes.append(match.group(1))
    return scopes


def manifest_bot_scopes() -> list[str]:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return [str(scope) for scope in manifest["oauth_config"]["scopes"]["bot"]]


def test_install_md_lists_exactly_the_manifests_bot_scopes() -> None:
    documented, granted = documented_bot_scopes(), manifest_bot_scopes()
    assert len(documented) == len(set(documented)), "a scope is listed twice in install.md"
    missing = [scope for scope in granted if scope not in documented]
    extra = [scope for scope in documented if scope not in granted]
    assert not missing, f"manifest.yaml's bot scopes {missing} are not in install.md's table"
    assert not extra, f"install.md's table lists {extra}, which manifest.yaml does not ask for"


# --- compose.yaml ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else [str(c) for c in command]


def test_compose_migrates_then_runs_firewatch_built_from_this_dockerfile(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    migrate, firewatch, postgres = services["migrate"], services["firewatch"], services["postgres"]
    assert _command(migrate) == ["migrate"]
    assert _command(firewatch) == ["run"]
    # The migration waits for a healthy database, Firewatch for a migration that succeeded.
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert firewatch["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert migrate.get("restart") == "no"
    for service in (migrate, firewatch):
        assert service["build"] == "."  # this repository's Dockerfile
        assert service["image"] == migrate["image"]  # one image for both
        url = service["environment"]["FIREWATCH_DATABASE_URL"]
        assert url.startswith("postgresql+asyncpg://")
        assert "@postgres:5432/" in url


def test_compose_health_check_is_readiness(compose: dict[str, Any]) -> None:
    check = compose["services"]["firewatch"]["healthcheck"]
    test = " ".join(check["test"])
    assert "/health/ready" in test
    assert not re.search(r"\b(curl|wget)\b", test), "the image has neither curl nor wget"
    assert check["test"][:3] == ["CMD", "python", "-c"]


def test_compose_file_is_valid_for_docker_compose(tmp_path: Path) -> None:
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) and (
            subprocess.run([*command, "version"], capture_output=True, check=False).returncode == 0
        ):
            break
    else:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed here")
    # A copy beside the files compose.yaml names (its env_file), outside the checkout.
    shutil.copy(COMPOSE, tmp_path / "compose.yaml")
    (tmp_path / "firewatch.env").write_text("SLACK_BOT_TOKEN=xoxb-compose-test\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    result = subprocess.run(
        [*command, "-f", "compose.yaml", "config", "-q"],
        cwd=tmp_path,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "POSTGRES_PASSWORD": "compose-test"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# --- the tested versions ---------------------------------------------------------------------


def pins() -> dict[str, str]:
    pinned = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"constraints.txt pins exact versions (name==version): {line!r}"
        pinned[_canonical(name)] = version
    return pinned


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_constraints_pin_every_dependency_within_pyprojects_ranges() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    pinned = pins()
    for text in requirements:
        requirement = Requirement(text)
        name = _canonical(requirement.name)
        assert name in pinned, f"constraints.txt does not pin {requirement.name}"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {requirement.name}=={pinned[name]}, outside {text!r}"
        )


def test_ci_and_the_image_install_the_tested_versions() -> None:
    assert "-c constraints.txt" in CI_RUN.read_text(encoding="utf-8")
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    installs = [line for line in dockerfile.splitlines() if re.search(r"pip install (?!--)", line)]
    assert installs, "the Dockerfile installs nothing with pip"
    for line in installs:
        assert "-c constraints.txt" in line, f"a pip install without the constraints: {line}"


# --- the Dockerfile --------------------------------------------------------------------------


def test_the_images_license_label_is_the_projects_license() -> None:
    license_text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"
    labels = re.findall(
        r'org\.opencontainers\.image\.licenses="([^"]*)"', DOCKERFILE.read_text(encoding="utf-8")
    )
    assert labels == ["MIT"]


def test_the_base_image_is_a_build_argument_defaulting_to_the_official_image() -> None:
    lines = DOCKERFILE.read_text(encoding="utf-8").splitlines()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in lines
    froms = [line for line in lines if line.startswith("FROM ")]
    assert len(froms) == 2
    assert all(line.startswith("FROM ${PYTHON_IMAGE} ") for line in froms)
