"""The statements that run agree with the transition table, and are the only ones that run."""

import re
from pathlib import Path

import pytest

from shared import transitions
from shared.statuses import TRANSITIONS, ReportStatus, can_transition

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("api", "relay", "worker", "shared")
STATUS_LITERAL = re.compile("'({})'".format("|".join(status.value for status in ReportStatus)))


@pytest.mark.parametrize("transition", transitions.ALL, ids=lambda t: t.name)
def test_every_move_of_every_statement_is_allowed_by_the_table(transition):
    assert transition.moves
    for current, new in transition.moves:
        assert can_transition(current, new), (transition.name, current, new)


@pytest.mark.parametrize("transition", transitions.ALL, ids=lambda t: t.name)
def test_a_statement_names_exactly_the_statuses_of_its_moves(transition):
    named = set(STATUS_LITERAL.findall(transition.sql))
    declared = {status.value for move in transition.moves for status in move}
    # A move within one status (a takeover, a cancel request) sets nothing new.
    assert named == declared


# An assignment to status anywhere in an UPDATE's SET list (not in its WHERE), a SQLAlchemy
# case() on status, or .values(status=...).
SETS_STATUS = re.compile(
    r"\bSET\b(?:(?!\bWHERE\b|\bFROM\b|\bRETURNING\b)[^;])*?\bstatus\s*=(?!=)"
    r"|status\s*=\s*case\(|\.values\([^)]*status=",
    re.I | re.S,
)


def test_every_allowed_transition_has_a_statement_that_makes_it():
    allowed = {(current, new) for current, news in TRANSITIONS.items() for new in news}
    made = {move for transition in transitions.ALL for move in transition.moves}
    assert allowed - made == set()


@pytest.mark.parametrize(
    ("sql", "sets"),
    [
        ("UPDATE reports SET status = 'Failed' WHERE id = :id", True),
        ("UPDATE reports SET attempts = 1, status = 'Failed' WHERE id = :id", True),
        ("UPDATE reports\n   SET error_code = :code,\n       status = 'Failed'", True),
        ("UPDATE reports SET progress = 1 WHERE status = 'Processing'", False),
        ("SELECT * FROM reports WHERE status = 'Pending'", False),
        ("UPDATE reports SET x = 1 FROM y WHERE y.status = reports.status", False),
    ],
)
def test_the_status_setter_pattern_catches_every_assignment_and_no_condition(sql, sets):
    assert bool(SETS_STATUS.search(sql)) is sets


def test_no_product_module_but_transitions_sets_a_status():
    setting = SETS_STATUS
    offenders = [
        str(path.relative_to(ROOT))
        for package in PRODUCT
        for path in (ROOT / package).rglob("*.py")
        if path.name != "transitions.py"
        and "migrations" not in path.parts
        and setting.search(path.read_text())
    ]
    assert offenders == []


def test_names_are_unique():
    names = [transition.name for transition in transitions.ALL]
    assert len(names) == len(set(names))
