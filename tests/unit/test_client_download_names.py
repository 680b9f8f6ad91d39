"""`reportbox download ID -o DIR` writes inside DIR whatever file name the server answers."""

from __future__ import annotations

import hashlib
import json

import pytest

from client.cli.main import main
from client.download import MAX_FILE_NAME_BYTES, is_plain_file_name, safe_file_name
from tests.unit.scripted_server import ScriptedServer

REPORT_ID = "6f1c2d4e-0000-4000-8000-000000000001"
FALLBACK = f"report-{REPORT_ID}.csv"


@pytest.mark.parametrize(
    "name",
    [
        "sessions.csv",
        "sessions-2026-01-01-2026-01-31.csv.gz",
        ".hidden.csv",  # a dot file still stays in the folder
        "...",
        "..csv",
        "report with spaces.xlsx",
        "Bericht-März.pdf",
        "报告.json",
        "x" * MAX_FILE_NAME_BYTES,
    ],
)
def test_a_plain_file_name_is_kept(name):
    assert is_plain_file_name(name)
    assert safe_file_name(name, REPORT_ID, "csv") == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        "../../x",
        "../x.csv",
        "/tmp/x",
        "/",
        "a/b.csv",
        "a/",
        "..\\..\\x",
        "C:\\Windows\\x.csv",
        "a\\b",
        "x\x00.csv",
        "x\n.csv",
        "x\r.csv",
        "x\t.csv",
        "\x1b[2Jx.csv",  # a terminal escape
        "x\x7f.csv",
        "x\x85.csv",  # C1 next line
        "x\x9b2J.csv",  # C1 control sequence introducer
        "x" * (MAX_FILE_NAME_BYTES + 1),
        "é" * (MAX_FILE_NAME_BYTES // 2 + 1),  # short in characters, too long in bytes
    ],
)
def test_any_other_name_falls_back_to_the_report_id_and_format(name):
    assert not is_plain_file_name(name)
    assert safe_file_name(name, REPORT_ID, "csv") == FALLBACK


def test_the_fallback_keeps_a_dotted_format():
    assert safe_file_name("..", REPORT_ID, "csv.gz") == f"report-{REPORT_ID}.csv.gz"


@pytest.mark.parametrize(
    ("report_id", "extension", "expected"),
    [
        ("../../etc", "csv", "report-unknown.csv"),
        (REPORT_ID, "../x", f"report-{REPORT_ID}.bin"),
        (REPORT_ID, "", f"report-{REPORT_ID}.bin"),
        ("", "/csv", "report-unknown.bin"),
    ],
)
def test_the_fallback_takes_nothing_unsafe_from_the_answer_either(report_id, extension, expected):
    assert safe_file_name("/tmp/x", report_id, extension) == expected
    assert is_plain_file_name(expected)


def completed(server: ScriptedServer, name: str, content: bytes) -> dict:
    return {
        "reportId": REPORT_ID,
        "reportType": "sessions",
        "format": "csv",
        "parameters": {},
        "status": "Completed",
        "cancelRequested": False,
        "createdAt": "2026-12-01T12:00:00+00:00",
        "progress": {"rowsProcessed": 2, "rowsTotal": 2, "percent": 100.0},
        "error": None,
        "file": {
            "name": name,
            "contentType": "text/csv",
            "sizeBytes": len(content),
            "rows": 2,
            "sha256": hashlib.sha256(content).hexdigest(),
        },
        "downloadUrl": f"{server.url}/bucket/{REPORT_ID}.csv",
    }


@pytest.mark.parametrize("hostile_name", ["../../escaped.csv", "ABSOLUTE"])
def test_the_command_line_writes_a_hostile_name_inside_the_folder(tmp_path, capsys, hostile_name):
    folder = tmp_path / "out" / "here"
    folder.mkdir(parents=True)
    outside = tmp_path / "absolute-escape.csv"
    name = str(outside) if hostile_name == "ABSOLUTE" else hostile_name
    content = b"session_id,user_id\n1,2\n"
    with ScriptedServer() as server:
        answer = completed(server, name, content)
        server.add(200, answer)  # the command's own look at the report
        server.add(200, answer)  # the download's fresh look
        server.add(200, content)

        code = main(
            ["download", REPORT_ID, "-o", str(folder), "--json"],
            env={"REPORTBOX_URL": server.url, "REPORTBOX_TOKEN": "t"},
        )

    saved = json.loads(capsys.readouterr().out)["savedTo"]
    assert code == 0
    assert saved == str(folder / FALLBACK)
    assert [path.name for path in folder.iterdir()] == [FALLBACK]
    assert (folder / FALLBACK).read_bytes() == content
    assert sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*")) == [
        "out",
        "out/here",
        f"out/here/{FALLBACK}",
    ]
