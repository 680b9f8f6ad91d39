"""The house's edges: one module per outside system imports its driver (docs/development.md)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("api", "relay", "worker", "shared")

# Driver -> the modules (or packages, ending in "/") allowed to import it. The COPY readers
# (worker/source.py and the formats) stream rows through psycopg's cursor; only shared/db.py
# and worker/source.py decide what a driver error means. A delivery kind is the edge of its
# outside system: s3_kind of the customer's store (ours stays storage.py's), sftp_kind of SSH.
EDGES = {
    "psycopg": ("shared/db.py", "worker/source.py", "worker/formats/"),
    "pika": ("shared/broker/",),
    "boto3": ("shared/storage.py", "shared/deliveries/s3_kind.py"),
    "botocore": ("shared/storage.py", "shared/deliveries/s3_kind.py"),
    "paramiko": ("shared/deliveries/sftp_kind.py",),
}


def product_modules() -> list[Path]:
    return sorted(path for top in PRODUCT for path in (ROOT / top).rglob("*.py"))


def imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def allowed(relative: str, driver: str) -> bool:
    return any(
        relative == edge or (edge.endswith("/") and relative.startswith(edge))
        for edge in EDGES[driver]
    )


def test_only_the_edge_of_each_outside_system_imports_its_driver():
    trespassers = []
    for path in product_modules():
        relative = path.relative_to(ROOT).as_posix()
        for name in imported(ast.parse(path.read_text())):
            driver = name.split(".")[0]
            if driver in EDGES and not allowed(relative, driver):
                trespassers.append(f"{relative} imports {name}")
    assert trespassers == []


def test_no_module_outside_the_database_edge_catches_a_driver_error():
    catching = []
    for path in product_modules():
        relative = path.relative_to(ROOT).as_posix()
        if relative in ("shared/db.py", "worker/source.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            caught = isinstance(node, ast.ExceptHandler) and node.type is not None
            if caught and "psycopg" in ast.unparse(node.type):
                catching.append(f"{relative}:{node.lineno}")
    assert catching == []
