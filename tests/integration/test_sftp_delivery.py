"""The sftp delivery kind against a real SFTP server (asyncssh) on a loopback port."""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh
import pytest

from infra.local.processes import free_port
from shared.deliveries.sftp_kind import KIND
from shared.deliveries.targets import (
    InvalidTarget,
    PermanentDeliveryFailure,
    TransientDeliveryFailure,
)
from tests.integration.delivery_helpers import delivered_file, sftp_server

PASSWORD = "correct horse battery staple"
OTHER_HOST_KEY = asyncssh.generate_private_key("ssh-ed25519").get_fingerprint("sha256")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "outbox").mkdir()
    return tmp_path


@pytest.fixture
def server(root: Path):
    with sftp_server(root, "acme", password=PASSWORD) as server:
        yield server


def target_for(server, **overrides) -> dict:
    return {
        "kind": "sftp",
        "host": "127.0.0.1",
        "port": server.port,
        "username": "acme",
        "password": PASSWORD,
        "hostKeySha256": server.host_key_sha256,
        "path": "/outbox",
        **overrides,
    }


def test_the_file_is_uploaded_whole_and_no_part_file_is_left(server, root):
    data = os.urandom(3 * 1024 * 1024 + 17)

    KIND.send(target_for(server), delivered_file(data))

    assert (root / "outbox" / "sessions-2026-12-05.csv").read_bytes() == data
    assert sorted(path.name for path in (root / "outbox").iterdir()) == ["sessions-2026-12-05.csv"]


@pytest.mark.parametrize("posix_rename", [True, False], ids=["posix-rename", "plain rename"])
def test_a_file_of_the_same_name_is_replaced(root, posix_rename):
    (root / "outbox" / "sessions-2026-12-05.csv").write_bytes(b"last week's")
    with sftp_server(root, "acme", password=PASSWORD, posix_rename=posix_rename) as server:
        KIND.send(target_for(server), delivered_file(b"this week's"))

    assert (root / "outbox" / "sessions-2026-12-05.csv").read_bytes() == b"this week's"
    assert [path.name for path in (root / "outbox").iterdir()] == ["sessions-2026-12-05.csv"]


def test_a_failed_upload_leaves_no_part_file(server, root):
    def failing_open():
        raise OSError(5, "the report's file could not be read")

    with pytest.raises(TransientDeliveryFailure):
        KIND.send(target_for(server), delivered_file(b"x", opener=failing_open))

    assert list((root / "outbox").iterdir()) == []


def test_a_host_key_that_does_not_match_is_refused_before_any_login(server):
    with pytest.raises(PermanentDeliveryFailure) as failed:
        KIND.send(target_for(server, hostKeySha256=OTHER_HOST_KEY), delivered_file(b"x"))

    assert server.connections == ["connected"]
    assert server.logins == []  # the password was never sent
    assert server.host_key_sha256 in failed.value.message


def test_saving_a_target_whose_host_key_does_not_match_names_the_fingerprint(server):
    with pytest.raises(InvalidTarget) as refused:
        KIND.prove(target_for(server, hostKeySha256=OTHER_HOST_KEY))

    assert refused.value.field == "hostKeySha256"
    assert server.logins == []


def test_a_wrong_password_fails_permanently(server, root):
    with pytest.raises(PermanentDeliveryFailure) as failed:
        KIND.send(target_for(server, password="wrong"), delivered_file(b"x"))

    assert "wrong" not in failed.value.message
    assert list((root / "outbox").iterdir()) == []


def test_a_closed_port_fails_transiently():
    target = {
        "host": "127.0.0.1",
        "port": free_port(),
        "username": "acme",
        "password": PASSWORD,
        "hostKeySha256": OTHER_HOST_KEY,
        "path": "/outbox",
    }

    with pytest.raises(TransientDeliveryFailure):
        KIND.send(target, delivered_file(b"x"))


@pytest.mark.parametrize(
    ("algorithm", "form"),
    [
        ("ssh-ed25519", "openssh"),
        ("ssh-ed25519", "pkcs8-pem"),
        ("ssh-rsa", "pkcs1-pem"),
        ("ecdsa-sha2-nistp256", "openssh"),
    ],
)
def test_a_private_key_logs_in(root, algorithm, form):
    client_key = asyncssh.generate_private_key(algorithm)
    private_key = client_key.export_private_key(form).decode()
    with sftp_server(root, "acme", authorized_key=client_key) as server:
        target = target_for(server, password=None, privateKey=private_key)
        KIND.prove(target)
        KIND.send(target, delivered_file(b"signed in"))

    assert (root / "outbox" / "sessions-2026-12-05.csv").read_bytes() == b"signed in"


def test_prove_accepts_a_writable_directory_and_leaves_nothing_there(server, root):
    KIND.prove(target_for(server))

    assert list((root / "outbox").iterdir()) == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"password": "wrong"}, "password"),
        ({"path": "/missing"}, "path"),
        ({"path": "/outbox/file.csv"}, "path"),
    ],
)
def test_prove_names_the_member_at_fault(server, root, overrides, field):
    (root / "outbox" / "file.csv").write_bytes(b"a file, not a folder")

    with pytest.raises(InvalidTarget) as refused:
        KIND.prove(target_for(server, **overrides))

    assert refused.value.field == field


def test_prove_names_the_host_when_nothing_listens():
    target = {
        "host": "127.0.0.1",
        "port": free_port(),
        "username": "acme",
        "password": PASSWORD,
        "hostKeySha256": OTHER_HOST_KEY,
    }

    with pytest.raises(InvalidTarget) as refused:
        KIND.prove(target)

    assert refused.value.field == "host"
