"""GET /api/v1/reports: the caller's history, newest first, paged and filtered."""

from __future__ import annotations

from sqlalchemy import text


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def history(client, token, **query):
    return client.get("/api/v1/reports", query_string=query, headers=auth(token))


def test_history_is_newest_first_in_pages_with_a_total(client, post_report, make_token):
    token = make_token(sub="historian")
    ids = [
        post_report(
            token=token,
            body={
                "format": "csv",
                "parameters": {"fromDate": "2026-01-01", "toDate": f"2026-01-{day:02d}"},
            },
        ).get_json()["reportId"]
        for day in range(1, 8)
    ]

    first = history(client, token, page=1, pageSize=3).get_json()
    last = history(client, token, page=3, pageSize=3).get_json()

    assert first["total"] == 7
    assert [item["reportId"] for item in first["items"]] == ids[::-1][:3]
    assert [item["reportId"] for item in last["items"]] == ids[:1]
    assert (first["page"], first["pageSize"]) == (1, 3)


def test_history_filters_by_status_type_and_creation_time(
    client, post_report, make_token, sessions
):
    token = make_token(sub="filterer")
    sessions_id = post_report(token=token).get_json()["reportId"]
    popularity = post_report(
        report_type="popularity",
        token=token,
        body={"format": "csv", "parameters": {"fromDate": "2026-01-01", "toDate": "2026-01-02"}},
    )
    popularity_id = popularity.get_json()["reportId"]
    with sessions.begin() as session:
        session.execute(
            text(
                "UPDATE reports SET status = 'Failed', "
                "created_at = '2026-03-01T00:00:00Z' WHERE id = :id"
            ),
            {"id": sessions_id},
        )

    by_type = history(client, token, reportType="popularity").get_json()
    by_status = history(client, token, status="Failed").get_json()
    since = history(client, token, createdFrom="2026-06-01T00:00:00Z").get_json()
    until = history(client, token, createdTo="2026-03-02").get_json()

    assert [item["reportId"] for item in by_type["items"]] == [popularity_id]
    assert [item["reportId"] for item in by_status["items"]] == [sessions_id]
    assert [item["reportId"] for item in since["items"]] == [popularity_id]
    assert [item["reportId"] for item in until["items"]] == [sessions_id]


def test_an_admin_sees_the_orgs_history_and_nobody_sees_another_orgs(
    client, post_report, make_token
):
    analyst = make_token(sub="analyst-of-initech", org="initech")
    report_id = post_report(token=analyst).get_json()["reportId"]

    admin = history(client, make_token(org="initech", roles=("admin",))).get_json()
    colleague = history(client, make_token(org="initech", roles=("viewer",))).get_json()
    outsider = history(client, make_token(org="umbrella", roles=("admin",))).get_json()

    assert report_id in [item["reportId"] for item in admin["items"]]
    assert colleague["total"] == 0
    assert outsider["total"] == 0


def test_bad_history_queries_are_422_naming_the_parameter(client, make_token):
    token = make_token()
    for query, field in [
        ({"pageSize": 101}, "pageSize"),
        ({"page": 0}, "page"),
        ({"status": "Done"}, "status"),
        ({"createdFrom": "yesterday"}, "createdFrom"),
        ({"owner": "someone"}, "owner"),
    ]:
        response = history(client, token, **query)
        assert response.status_code == 422, query
        assert field in response.get_json()["errors"], query


def plan(session, sql: str) -> str:
    return "\n".join(session.execute(text(f"EXPLAIN {sql}")).scalars())


def test_the_history_queries_are_served_by_indexes_without_a_sort(sessions):
    with sessions.begin() as session:  # 30,000 reports of 300 owners, so the planner has a choice
        session.execute(
            text(
                "INSERT INTO reports (id, org, owner_id, report_type, format, parameters, status, "
                "created_at) SELECT gen_random_uuid(), 'bulk', 'owner-' || (g % 300), 'sessions', "
                "'csv', '{}', 'Completed', now() - g * interval '1 minute' "
                "FROM generate_series(1, 30000) g"
            )
        )
        session.execute(text("ANALYZE reports"))
    with sessions() as session:
        owner_plan = plan(
            session,
            "SELECT * FROM reports WHERE org = 'bulk' AND "
            "owner_id = 'owner-7' ORDER BY created_at DESC LIMIT 20 OFFSET 40",
        )
        org_plan = plan(
            session,
            "SELECT * FROM reports WHERE org = 'bulk' ORDER BY created_at DESC LIMIT 20 OFFSET 40",
        )

    assert "Index Scan using reports_owner_history" in owner_plan
    assert "Index Scan using reports_org_history" in org_plan
    assert "Sort" not in owner_plan + org_plan


def test_a_deep_page_and_the_total_skip_index_entries_not_rows(engine, sessions):
    """The ids of a page, as list_reports asks for them, come from the index alone: OFFSET
    into a million reports then skips index entries, without a sort and without the heap."""
    with sessions.begin() as session:
        session.execute(
            text(
                "INSERT INTO reports (id, org, owner_id, report_type, format, parameters, status, "
                "created_at) SELECT gen_random_uuid(), 'deep', 'owner-' || (g % 30), 'sessions', "
                "'csv', '{}', (ARRAY['Completed', 'Failed'])[1 + g % 2], "
                "now() - g * interval '1 second' FROM generate_series(1, 30000) g"
            )
        )
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM ANALYZE reports")  # as autovacuum would: the visibility map is set
        )
    with sessions() as session:
        org_page = plan(
            session,
            "SELECT id FROM reports WHERE org = 'deep' "
            "ORDER BY created_at DESC, id DESC LIMIT 100 OFFSET 29000",
        )
        # A small offset: the planner takes status and org for independent, and this
        # session's other reports make it expect fewer Failed ones of 'deep' than there are.
        status_page = plan(
            session,
            "SELECT id FROM reports WHERE org = 'deep' AND status = 'Failed' "
            "ORDER BY created_at DESC, id DESC LIMIT 100 OFFSET 100",
        )
        owner_page = plan(
            session,
            "SELECT id FROM reports WHERE org = 'deep' AND owner_id = 'owner-3' "
            "AND format = 'csv' ORDER BY created_at DESC, id DESC LIMIT 100 OFFSET 900",
        )

    assert "Index Only Scan using reports_org_history" in org_page
    assert "Index Only Scan using reports_org_history" in status_page
    assert "Index Only Scan using reports_owner_history" in owner_page
    assert "Sort" not in org_page + status_page + owner_page
