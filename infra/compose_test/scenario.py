"""The checks, in the order a user meets them; each one timed and recorded as a Result.

Everything is seen from outside: the API, S3, RabbitMQ's management API and Mailpit's API
through their published ports, the containers through `docker compose` and `docker inspect`.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
from botocore.config import Config

from client import Client
from infra.compose_test.engine import log
from infra.compose_test.stack import LONG_RUNNING, ONE_SHOT, Stack

RUN_STARTED = time.monotonic()
ORG = "acme"
# The demo service fills 2026 with 100,000 sessions per org: a day is a few hundred rows.
SMALL = {"fromDate": "2026-01-01", "toDate": "2026-01-01"}
# The slowest writer, pdf (a page at a time), on five months: about 41,000 rows, under the
# 50,000 PDF_MAX_ROWS allows, and an export of tens of seconds (xlsx of the year takes two).
LONG_EXPORT = ("pdf", {"fromDate": "2026-01-01", "toDate": "2026-05-31"})
BURST_REPORTS = 200
# MAX_ACTIVE_REPORTS_PER_USER in docker-compose.yml is 10: the burst comes from 20 users.
BURST_USERS = 20
STACK_UP_SECONDS = 300
REPORT_SECONDS = 180
# The dispatcher polls for due deliveries (DISPATCHER_POLL_SECONDS, 5 by default) when
# nothing wakes it: a message is in Mailpit seconds after its run completes.
MAIL_SECONDS = 60
STORAGE_ACCESS_KEY, STORAGE_SECRET_KEY = "reportbox", "reportbox-dev-secret"
RABBITMQ_USER = RABBITMQ_PASSWORD = "reportbox"


@dataclass
class Result:
    name: str
    passed: bool
    seconds: float
    detail: str = ""


def run(stack: Stack, results: list[Result]) -> None:
    """Each step appends its Result; the first to fail ends the run (the rest depend on it)."""
    steps = [
        ("build the image from infra/Dockerfile (docker compose build)", build),
        ("up: every service healthy, reachable on its published port", up),
        ("one-shot jobs (create-bucket, migrate, demo) ran once and succeeded", ran_once),
        ("a report reaches Completed; its download matches its sha256", one_report),
        ("an e-mail delivery: the run mailed through Mailpit, its file attached", mailed),
        (
            f"--scale relay=2 --scale worker=2: {BURST_REPORTS} reports, all Completed",
            burst,
        ),
        ("stop worker during a long export, start again: it completes", stop_during_export),
        ("down -v leaves no container, network or volume", down),
    ]
    tokens: dict[str, str] = {}
    for name, step in steps:
        log(f"-- {name}")
        started = time.monotonic()
        try:
            detail = step(stack, tokens) or ""
            results.append(Result(name, True, time.monotonic() - started, detail))
        except Exception as error:  # recorded as this check's failure
            results.append(Result(name, False, time.monotonic() - started, str(error)[-2000:]))
            return


def build(stack: Stack, tokens: dict[str, str]) -> str:
    stack.must("build", "api", timeout=900)
    return stack.app_image


def up(stack: Stack, tokens: dict[str, str]) -> str:
    stack.must("up", "--detach")
    try:
        waited = stack.wait_until(lambda: not unsettled(stack), "the stack", STACK_UP_SECONDS)
    except TimeoutError as timeout:
        # Which service, and its last words: a crash loop shows only as "not healthy".
        late = unsettled(stack)
        logs = stack.compose("logs", "--no-color", "--tail", "5", *late).stdout
        raise TimeoutError(f"{timeout}; not settled: {late}\n{logs}") from None
    with httpx.Client(timeout=10) as http:
        http.get(f"{stack.url('API_PORT')}/readyz").raise_for_status()
        overview = http.get(
            f"{stack.url('RABBITMQ_MANAGEMENT_PORT')}/api/overview",
            auth=(RABBITMQ_USER, RABBITMQ_PASSWORD),
        )
        overview.raise_for_status()
        http.get(f"{stack.url('MAILPIT_PORT')}/readyz").raise_for_status()
    storage(stack).list_buckets()
    return f"healthy after {waited:.0f} s"


def unsettled(stack: Stack) -> list[str]:
    """The services not yet settled: a long-running one not healthy, a one-shot job not
    exited (with any code)."""
    states: dict[str, list[dict]] = {}
    for container in stack.containers():
        service = container["Config"]["Labels"]["com.docker.compose.service"]
        states.setdefault(service, []).append(container["State"])
    unhealthy = [
        service
        for service in LONG_RUNNING
        if not states.get(service)
        or not all(s.get("Health", {}).get("Status") == "healthy" for s in states[service])
    ]
    running = [
        service
        for service in ONE_SHOT
        if not states.get(service) or not all(s["Status"] == "exited" for s in states[service])
    ]
    return unhealthy + running


def ran_once(stack: Stack, tokens: dict[str, str]) -> str:
    for service in ONE_SHOT:
        containers = stack.containers(service)
        assert len(containers) == 1, f"{service}: {len(containers)} containers"
        (container,) = containers
        state = container["State"]
        assert state["ExitCode"] == 0, f"{service} exited with {state['ExitCode']}"
        assert container["RestartCount"] == 0, f"{service} restarted"
    buckets = [bucket["Name"] for bucket in storage(stack).list_buckets()["Buckets"]]
    assert buckets == ["reportbox"], f"buckets: {buckets}"
    migrations = stack.must("logs", "--no-color", "migrate")
    assert "Running upgrade" in migrations, "migrate's log shows no upgrade"
    return "bucket reportbox; migrations applied"


def storage(stack: Stack):
    return boto3.client(
        "s3",
        endpoint_url=stack.url("MINIO_PORT"),
        aws_access_key_id=STORAGE_ACCESS_KEY,
        aws_secret_access_key=STORAGE_SECRET_KEY,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


def issue_tokens(stack: Stack, users: list[str], roles: str = "analyst") -> list[str]:
    """Development tokens, from the image itself: `docker compose run --rm api python -m
    api.tokens` (all of them in one container: each run costs seconds)."""
    script = " && ".join(
        f"python -m api.tokens --sub {user} --org {ORG} --roles {roles}" for user in users
    )
    command = ["python", "-m", "api.tokens", "--sub", users[0], "--org", ORG, "--roles", roles]
    if len(users) > 1:
        command = ["sh", "-c", script]
    output = stack.must("run", "--rm", "--no-deps", "-T", "api", *command)
    issued = output.split()
    assert len(issued) == len(users), output
    return issued


def completed_and_verified(client: Client, report_id: str) -> str:
    report = client.wait(report_id, timeout=REPORT_SECONDS)
    assert report.status == "Completed", f"{report_id} is {report.status}: {report.error}"
    with tempfile.TemporaryDirectory() as folder:
        saved = client.download(report_id, folder)  # refuses a size or sha256 mismatch
        digest = hashlib.sha256(Path(saved).read_bytes()).hexdigest()
    assert report.file is not None and digest == report.file.sha256
    return f"{report.file.rows} rows, sha256 {digest[:12]}…"


def one_report(stack: Stack, tokens: dict[str, str]) -> str:
    (tokens["single"],) = issue_tokens(stack, ["compose-test"])
    with Client(stack.url("API_PORT"), tokens["single"]) as client:
        accepted = client.request_report("sessions", format="csv", **SMALL)
        return completed_and_verified(client, accepted.report_id)


def mailed(stack: Stack, tokens: dict[str, str]) -> str:
    """An admin's definition mailing its runs (EMAIL_ALLOWED_DOMAINS is empty in the compose
    file, so only an admin may), generated: the dispatcher sends the message to Mailpit,
    whose API shows it with the report's file attached, byte for byte."""
    dispatchers = healthy_containers(stack, "dispatcher")
    assert dispatchers, "no healthy dispatcher"
    (admin,) = issue_tokens(stack, ["compose-test-admin"], roles="admin")
    recipient = f"ops-{uuid.uuid4().hex[:8]}@example.org"
    with Client(stack.url("API_PORT"), admin) as client:
        definition = client.create_definition(
            f"compose-test mail {uuid.uuid4().hex[:8]}",
            "sessions",
            "csv",
            parameters=SMALL,
            deliveries=[
                {"kind": "api", "mode": "async"},
                {"kind": "email", "recipients": [recipient], "subject": "{name} is ready"},
            ],
        )
        run = client.generate(definition)
        verified = completed_and_verified(client, run.report_id)
        report = client.get(run.report_id)
        with httpx.Client(base_url=stack.url("MAILPIT_PORT"), timeout=10) as mailpit:
            found: list[dict] = []

            def arrived() -> bool:
                found[:] = [m for m in mailpit_messages(mailpit) if recipient in addressees(m)]
                return bool(found)

            waited = stack.wait_until(arrived, f"a message to {recipient}", MAIL_SECONDS)
            (summary,) = found
            message = mailpit_get(mailpit, f"/api/v1/message/{summary['ID']}").json()
            (attachment,) = message["Attachments"]
            path = f"/api/v1/message/{summary['ID']}/part/{attachment['PartID']}"
            content = mailpit_get(mailpit, path).content

        def delivered() -> bool:
            deliveries = client.get(run.report_id).raw.get("deliveries", [])
            return [(d["kind"], d["status"]) for d in deliveries] == [("email", "Delivered")]

        stack.wait_until(delivered, "the delivery Delivered", MAIL_SECONDS)
    assert message["Subject"].endswith(" is ready"), message["Subject"]
    assert report.file is not None
    assert hashlib.sha256(content).hexdigest() == report.file.sha256, "the attachment differs"
    assert attachment["FileName"] == report.file.name, attachment
    return (
        f"{verified}; in Mailpit {waited:.0f} s after, {attachment['FileName']} attached "
        f"({len(content)} bytes, same sha256); {len(dispatchers)} dispatcher healthy"
    )


def healthy_containers(stack: Stack, service: str) -> list[dict]:
    return [
        container
        for container in stack.containers(service)
        if container["State"]["Status"] == "running"
        and container["State"].get("Health", {}).get("Status") == "healthy"
    ]


def mailpit_get(mailpit: httpx.Client, path: str) -> httpx.Response:
    answer = mailpit.get(path)
    answer.raise_for_status()
    return answer


def mailpit_messages(mailpit: httpx.Client) -> list[dict]:
    """Mailpit's GET /api/v1/messages: the newest messages' summaries (50 by default)."""
    return mailpit_get(mailpit, "/api/v1/messages").json()["messages"]


def addressees(summary: dict) -> list[str]:
    return [address["Address"] for address in summary.get("To") or []]


def burst(stack: Stack, tokens: dict[str, str]) -> str:
    stack.must("up", "--detach", "--scale", "relay=2", "--scale", "worker=2")
    stack.wait_until(lambda: scaled(stack), "two healthy relays and workers", STACK_UP_SECONDS)
    users = [f"burst-{number:02}" for number in range(BURST_USERS)]
    per_user = BURST_REPORTS // BURST_USERS
    started = time.monotonic()

    def one_user(token: str) -> list[str]:
        with Client(stack.url("API_PORT"), token, max_retries=5) as client:
            # One day each: the API refuses a report identical to one still Pending.
            days = [f"2026-02-{day:02}" for day in range(1, per_user + 1)]
            ids = [
                client.request_report("sessions", fromDate=day, toDate=day).report_id
                for day in days
            ]
            finals = [client.wait(report_id, timeout=REPORT_SECONDS) for report_id in ids]
            return [report.status for report in finals]

    with ThreadPoolExecutor(max_workers=BURST_USERS) as pool:
        statuses = [s for user in pool.map(one_user, issue_tokens(stack, users)) for s in user]
    completed = statuses.count("Completed")
    assert completed == BURST_REPORTS, f"{completed} of {BURST_REPORTS} Completed: {statuses}"
    return f"{completed} Completed in {time.monotonic() - started:.0f} s"


def scaled(stack: Stack) -> bool:
    return all(len(healthy_containers(stack, service)) == 2 for service in ("relay", "worker"))


def stop_during_export(stack: Stack, tokens: dict[str, str]) -> str:
    with Client(stack.url("API_PORT"), tokens["single"]) as client:
        export_format, parameters = LONG_EXPORT
        accepted = client.request_report("sessions", format=export_format, **parameters)

        def exporting() -> bool:
            report = client.get(accepted.report_id)
            assert not report.is_terminal, f"finished before the stop: {report.status}"
            return report.status == "Processing"

        stack.wait_until(exporting, "the export under way", REPORT_SECONDS, interval=0.2)
        stopped_at = client.get(accepted.report_id).progress.rows_processed
        stopping = time.monotonic()
        stack.must("stop", "worker")
        stop_seconds = time.monotonic() - stopping
        # Completed: finished within the shutdown grace; Pending: handed back for later.
        after_stop = client.get(accepted.report_id).status
        stack.must("start", "worker")
        verified = completed_and_verified(client, accepted.report_id)
    return f"stopped at row {stopped_at} in {stop_seconds:.0f} s, then {after_stop}; {verified}"


def down(stack: Stack, tokens: dict[str, str]) -> str:
    stack.must("down", "--volumes", "--remove-orphans")
    left = {kind: ids for kind, ids in stack.leftovers().items() if ids}
    assert not left, f"left after down -v: {left}"
    return ""
