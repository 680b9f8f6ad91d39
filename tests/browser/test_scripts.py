"""The page's pure pieces, run in the browser as the page runs them: the polling rules, the
form generated from any JSON Schema (including what other report types may bring), curl."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

NOW = "2026-06-01T12:00:00Z"


@pytest.fixture(scope="module")
def page(browser_stack, browser):
    """One page for the module: these tests only import the page's scripts and call them."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(browser_stack.base_url + "/")
    yield page
    context.close()


def poll_delay(page, statuses_and_ages, hidden=False, paused=False):
    """nextPollDelay for reports of these statuses, created these many seconds before NOW."""
    return page.evaluate(
        """async ([reports, hidden, paused, now]) => {
            const { nextPollDelay } = await import("/assets/js/poller.js");
            const list = reports.map(([status, age]) => ({
                status, createdAt: new Date(Date.parse(now) - age * 1000).toISOString() }));
            return nextPollDelay(list, { hidden, paused, now: Date.parse(now) });
        }""",
        [statuses_and_ages, hidden, paused, NOW],
    )


@pytest.mark.parametrize(
    ("reports", "expected"),
    [
        ([], None),
        ([("Completed", 1), ("Failed", 1), ("Cancelled", 1), ("Expired", 1)], None),
        ([("Processing", 1)], 2000),
        ([("Processing", 100), ("Pending", 0)], 2000),
        ([("Pending", 0)], 1000),  # just requested: soon done, ask again soon
        ([("Pending", 4)], 2000),
        ([("Pending", 60)], 5000),  # waiting long: the slowest pace
        ([("Pending", 60), ("Pending", 3), ("Completed", 0)], 1500),
        ([("Pending", -30)], 1000),  # a client clock behind the server's
    ],
)
def test_polling_runs_only_while_something_is_in_flight(page, reports, expected):
    assert poll_delay(page, reports) == expected


def test_a_pending_delivery_of_a_finished_run_keeps_polling_at_the_slowest_pace(page):
    delays = page.evaluate(
        """async () => {
            const { nextPollDelay } = await import("/assets/js/poller.js");
            const run = (status) => [{ status: "Completed", createdAt: "2026-06-01T11:00:00Z",
                                       deliveries: [{ status: "Delivered" }, { status }] }];
            return ["Pending", "Failed"].map((status) => nextPollDelay(run(status), {}));
        }"""
    )
    assert delays == [5000, None]


def test_delivery_errors_are_placed_by_target_and_member(page):
    placed = page.evaluate(
        """async () => {
            const { deliveryKey, splitList } = await import("/assets/js/delivery-kinds.js");
            const keys = ["deliveries", "deliveries.2", "deliveries.0.recipients.1",
                          "deliveries.1.bucket", "name"];
            return [keys.map(deliveryKey), splitList(" a@x.org,b@y.org ; c@z.org\\n")];
        }"""
    )
    assert placed == [
        [[None, None, None], [2, None, None], [0, "recipients", "1"], [1, "bucket", None], None],
        ["a@x.org", "b@y.org", "c@z.org"],
    ]


def test_targets_keep_their_saved_places_around_the_api_deliveries(page):
    """Where each target goes in the list sent: its saved index (where the API looks first for
    the secret a mask keeps), api entries where they were, new ones last."""
    arranged = page.evaluate(
        """async () => {
            const { arrange } = await import("/assets/js/delivery-kinds.js");
            const saved = [{ kind: "api" }, { kind: "email" }, { kind: "s3" }];
            const names = (list) => list.map((target) => (target ? target.name : "api"));
            return [
                names(arrange(saved, [{ name: "email" }, { name: "s3" }])),
                names(arrange(saved, [{ name: "s3" }])),
                names(arrange(saved, [{ name: "email" }, { name: "s3" }, { name: "new" }])),
                names(arrange([], [{ name: "new" }])),
            ];
        }"""
    )
    assert arranged == [
        ["api", "email", "s3"],
        ["api", "s3"],
        ["api", "email", "s3", "new"],
        ["new"],
    ]


def test_polling_stops_when_hidden_or_paused(page):
    assert poll_delay(page, [("Processing", 1)], hidden=True) is None
    assert poll_delay(page, [("Pending", 1)], paused=True) is None


SCHEMA = {
    "type": "object",
    "properties": {
        "timezone": {"type": "string", "default": "UTC", "description": "An IANA time zone."},
        "columns": {
            "type": "array",
            "items": {"type": "string", "enum": ["session_id", "started_at", "device"]},
        },
        "plan": {"type": "string", "enum": ["free", "premium"]},
        "limit": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100},
        "toDate": {"type": "string", "format": "date"},
        "fromDate": {"type": "string", "format": "date"},
        "draft": {"type": "boolean"},
    },
    "required": ["fromDate", "toDate"],
}


def test_the_form_follows_whatever_the_schema_says(page):
    form = page.evaluate(
        """async (schema) => {
            const { SchemaForm } = await import("/assets/js/schema-form.js");
            const box = document.createElement("div");
            document.body.append(box);
            const form = new SchemaForm(box);
            form.render(schema);
            const describe = (input) => ({
                tag: input.tagName.toLowerCase(), type: input.type, min: input.min, max: input.max,
                label: input.labels && input.labels[0] ? input.labels[0].textContent : null,
                options: input.options ? [...input.options].map((o) => o.value) : null });
            const fields = [...box.querySelectorAll("[data-parameter]")].map((f) => ({
                name: f.dataset.parameter,
                inputs: [...f.querySelectorAll("input, select")].map(describe),
                legend: f.querySelector("legend")?.textContent ?? null }));
            box.querySelector("#param-fromDate").value = "2026-01-01";
            box.querySelector("#param-limit").value = "25";
            box.querySelector("#param-columns-device").checked = true;
            box.querySelector("#param-columns-session_id").checked = true;
            const values = form.values();
            form.setValues({ plan: "premium", columns: ["started_at"] });
            const again = form.values();
            const errors = { toDate: ["must not be before fromDate"], x: ["?"] };
            const { unplaced } = form.showErrors(errors);
            return { fields, values, again, unplaced,
                     error: box.querySelector("#error-param-toDate").textContent };
        }""",
        SCHEMA,
    )
    fields = {field["name"]: field for field in form["fields"]}

    assert [field["name"] for field in form["fields"]][:2] == ["fromDate", "toDate"]
    assert fields["fromDate"]["inputs"][0]["type"] == "date"
    assert fields["fromDate"]["inputs"][0]["label"] == "From date (required)"
    assert fields["timezone"]["inputs"][0]["type"] == "text"
    assert fields["timezone"]["inputs"][0]["label"] == "Timezone (optional)"
    assert fields["plan"]["inputs"][0]["options"] == ["", "free", "premium"]
    assert {k: fields["limit"]["inputs"][0][k] for k in ("type", "min", "max")} == {
        "type": "number",
        "min": "1",
        "max": "10000",
    }
    assert [i["type"] for i in fields["columns"]["inputs"]] == ["checkbox"] * 3
    assert fields["columns"]["legend"] == "Columns (optional)"
    assert fields["draft"]["inputs"][0]["type"] == "checkbox"
    # Entered values as the API takes them: typed, in the schema's order, empties left out.
    assert form["values"] == {
        "fromDate": "2026-01-01",
        "limit": 25,
        "columns": ["session_id", "device"],
    }
    assert form["again"] == {"plan": "premium", "columns": ["started_at"]}
    assert form["error"] == "must not be before fromDate"
    assert form["unplaced"] == {"x": ["?"]}


def test_copy_as_curl_quotes_what_the_shell_would_run(page):
    command = page.evaluate(
        """async () => {
            const { curlFor } = await import("/assets/js/curl.js");
            return curlFor({ reportType: "sessions", format: "csv",
                             parameters: { device: "it's <b>" } });
        }"""
    )

    assert "-X POST 'http://127.0.0.1:" in command
    assert "/api/v1/reports/sessions'" in command
    assert '-H "Authorization: Bearer $TOKEN"' in command
    assert """-d '{"format":"csv","parameters":{"device":"it'\\''s <b>"}}'""" in command


def schedule_call(page, name: str, *arguments):
    """Call a function of the page's schedule module by name, e.g. "cronForPreset"."""
    return page.evaluate(
        """async ([name, args]) => {
            const schedule = await import("/assets/js/schedule.js");
            return schedule[name](...args);
        }""",
        [name, list(arguments)],
    )


@pytest.mark.parametrize(
    ("preset", "time", "cron"),
    [
        ("daily", "07:00", "0 7 * * *"),
        ("weekdays", "06:30", "30 6 * * 1-5"),
        ("monday", "23:59", "59 23 * * 1"),
        ("monthly", "00:05", "5 0 1 * *"),
        ("custom", "07:00", None),
        ("daily", "", None),
        ("daily", "24:00", None),
    ],
)
def test_a_preset_at_a_time_of_day_is_cron(page, preset, time, cron):
    assert schedule_call(page, "cronForPreset", preset, time) == cron
    if cron:  # and back, to show a saved schedule
        assert schedule_call(page, "presetOfCron", cron) == {"preset": preset, "time": time}


def test_a_cron_no_preset_makes_is_custom(page):
    for cron in ("*/15 * * * *", "0 7 * * 0", "@daily", "0 7,19 * * *"):
        assert schedule_call(page, "presetOfCron", cron) == {"preset": "custom", "time": None}


# Instants as /schedules/preview gives them (Debian cron's rules, Europe/Berlin).
SPRING_DAILY_0230 = [
    "2027-03-27T02:30:00+01:00",
    "2027-03-28T03:00:00+02:00",
    "2027-03-29T02:30:00+02:00",
]
AUTUMN_DAILY_0230 = [
    "2026-10-24T02:30:00+02:00",
    "2026-10-25T02:30:00+02:00",
    "2026-10-26T02:30:00+01:00",
]
AUTUMN_MONDAYS_0700 = [
    "2026-10-19T07:00:00+02:00",
    "2026-10-26T07:00:00+01:00",
    "2026-11-02T07:00:00+01:00",
]
BERLIN = "Europe/Berlin"


def test_the_spring_change_says_which_run_moves_and_where(page):
    notes = schedule_call(
        page, "daylightSavingNotes", SPRING_DAILY_0230, {"wallTime": "02:30", "timezone": BERLIN}
    )
    # Without the intended time (a custom cron) it is read from the other runs.
    inferred = schedule_call(page, "daylightSavingNotes", SPRING_DAILY_0230, {"timezone": BERLIN})

    assert notes == [
        "Clocks go forward 1 hour between the runs of 27 March and 28 March "
        "(UTC+01:00 to UTC+02:00); the runs keep their local time.",
        "02:30 does not exist on 28 March; that run happens at 03:00.",
    ]
    assert inferred == notes


def test_the_autumn_change_says_a_repeated_time_runs_once(page):
    notes = schedule_call(
        page, "daylightSavingNotes", AUTUMN_DAILY_0230, {"wallTime": "02:30", "timezone": BERLIN}
    )

    assert notes == [
        "Clocks go back 1 hour between the runs of 25 October and 26 October "
        "(UTC+02:00 to UTC+01:00); the runs keep their local time.",
        "02:30 happens twice on 25 October; the run happens once, at the first 02:30 (UTC+02:00).",
    ]


def test_a_change_between_weekly_runs_only_says_the_clocks_change(page):
    notes = schedule_call(
        page, "daylightSavingNotes", AUTUMN_MONDAYS_0700, {"wallTime": "07:00", "timezone": BERLIN}
    )

    assert notes == [
        "Clocks go back 1 hour between the runs of 19 October and 26 October "
        "(UTC+02:00 to UTC+01:00); the runs keep their local time."
    ]


def test_no_offset_change_no_note(page):
    same = ["2026-06-01T07:00:00+02:00", "2026-06-08T07:00:00+02:00", "2026-06-15T07:00:00+02:00"]
    utc = ["2026-06-01T07:00:00Z", "2026-06-02T07:00:00Z"]

    assert schedule_call(page, "daylightSavingNotes", same, {"timezone": BERLIN}) == []
    assert schedule_call(page, "daylightSavingNotes", utc, {"timezone": "UTC"}) == []
    assert schedule_call(page, "daylightSavingNotes", [], {}) == []
    # Half-hour zones and an offset that is not whole hours read as they are.
    assert schedule_call(page, "offsetLabel", -330) == "UTC-05:30"


def message_poll_delay(page, messages):
    """messagePollDelay at NOW for messages given as (status, seconds until the next attempt)."""
    return page.evaluate(
        """async ([messages, now]) => {
            const { messagePollDelay } = await import("/assets/js/webhook-row.js");
            const at = (due) => new Date(Date.parse(now) + due * 1000).toISOString();
            const list = messages.map(([status, due]) => ({
                status, nextAttemptAt: due === null ? null : at(due) }));
            return messagePollDelay(list, Date.parse(now));
        }""",
        [messages, NOW],
    )


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([], None),
        ([("delivered", None), ("failed", None)], None),
        ([("pending", 0)], 1000),  # due now: the dispatcher sends it within a second or two
        ([("pending", None)], 1000),
        ([("pending", 4)], 4000),  # asked again when it is due
        ([("pending", 600), ("delivered", None)], None),  # minutes away: Refresh does it
        ([("pending", 600), ("pending", 3)], 3000),
        ([("pending", -120)], 5000),  # long overdue: no dispatcher sending now, ask less often
    ],
)
def test_messages_are_watched_only_while_one_is_on_its_way(page, messages, expected):
    assert message_poll_delay(page, messages) == expected
