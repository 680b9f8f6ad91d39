"""Fill the demo domain (schema `demo`): python -m shared.demo --orgs acme,globex --sessions N.

Every value is a hash of the row's id, so the same arguments always give the same data,
and a re-run replaces an org's rows instead of adding to them. Rows are generated inside
PostgreSQL (generate_series), which fills a million sessions in seconds.
"""

from __future__ import annotations

import argparse
import logging
import time

from shared.config import Settings
from shared.db import Cursor, connect

log = logging.getLogger(__name__)

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS demo;
CREATE TABLE IF NOT EXISTS demo.artists (
    org text NOT NULL, id integer NOT NULL, name text NOT NULL,
    PRIMARY KEY (org, id));
CREATE TABLE IF NOT EXISTS demo.albums (
    org text NOT NULL, id integer NOT NULL, artist_id integer NOT NULL,
    title text NOT NULL, genre text NOT NULL, released_on date NOT NULL,
    PRIMARY KEY (org, id));
CREATE TABLE IF NOT EXISTS demo.users (
    org text NOT NULL, id integer NOT NULL, display_name text NOT NULL, email text NOT NULL,
    country text NOT NULL, plan text NOT NULL, created_at timestamptz NOT NULL,
    PRIMARY KEY (org, id));
CREATE TABLE IF NOT EXISTS demo.sessions (
    org text NOT NULL, id bigint NOT NULL, user_id integer NOT NULL, album_id integer NOT NULL,
    started_at timestamptz NOT NULL, duration_ms integer NOT NULL,
    country text NOT NULL, device text NOT NULL,
    PRIMARY KEY (org, id));
CREATE INDEX IF NOT EXISTS sessions_org_started ON demo.sessions (org, started_at);
-- A uniform number in [0, n) from (row id, column salt): stable for the same inputs.
CREATE OR REPLACE FUNCTION demo.pick(id bigint, salt bigint, n bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (hashint8extended(id, salt) & 9223372036854775807) % n;
"""

COUNTRIES = ["US", "DE", "GB", "FR", "BR", "JP", "IN", "SE", "ES", "CA", "AU", "MX"]
DEVICES = ["ios", "android", "web", "desktop", "tv", "car"]
PLANS = ["free", "family", "premium", "student"]
GENRES = ["rock", "pop", "jazz", "hip-hop", "classical", "electronic", "folk", "metal"]
WORDS = [
    "Blue",
    "Night",
    "Echo",
    "Golden",
    "River",
    "Paper",
    "Silent",
    "Neon",
    "Velvet",
    "Iron",
    "Summer",
    "Glass",
    "Wild",
    "Distant",
    "Electric",
    "Hollow",
    "Crimson",
    "Lucky",
    "Northern",
    "Broken",
    "Static",
    "Midnight",
    "Solar",
    "Winter",
]

# Display names that attack whoever opens an export in a spreadsheet, or a naive CSV parser.
# Each org gets them as its last users (ids users+1 ...), so every users report can show them.
HOSTILE_DISPLAY_NAMES = [
    '=HYPERLINK("http://evil.example","click")',
    "+1",
    "@SUM(A1)",
    'Smith, "Bob"\nJr.',
]

DATA_START = "2026-01-01 00:00:00+00"  # sessions fall in the 365 days from here
DAYS = 365


def _fill_org(cursor: Cursor, org: str, sessions: int, users: int, albums: int) -> None:
    artists = max(1, albums // 4)
    # The org's name salts every hash, so two orgs get different data for the same ids.
    params = {
        "org": org,
        "seed": _org_seed(org),
        "sessions": sessions,
        "users": users,
        "albums": albums,
        "artists": artists,
        "countries": COUNTRIES,
        "devices": DEVICES,
        "plans": PLANS,
        "genres": GENRES,
        "words": WORDS,
        "start": DATA_START,
        "seconds": DAYS * 86400,
    }
    for table in ("sessions", "users", "albums", "artists"):
        cursor.execute(f"DELETE FROM demo.{table} WHERE org = %(org)s", params)
    cursor.execute(
        """
        INSERT INTO demo.artists (org, id, name)
        SELECT %(org)s, g, (%(words)s::text[])[1 + demo.pick(g, %(seed)s + 1, 24)] || ' '
               || (%(words)s::text[])[1 + demo.pick(g, %(seed)s + 2, 24)] || ' ' || g
        FROM generate_series(1, %(artists)s) g
        """,
        params,
    )
    cursor.execute(
        """
        INSERT INTO demo.albums (org, id, artist_id, title, genre, released_on)
        SELECT %(org)s, g, 1 + demo.pick(g, %(seed)s + 3, %(artists)s),
               (%(words)s::text[])[1 + demo.pick(g, %(seed)s + 4, 24)] || ' '
               || (%(words)s::text[])[1 + demo.pick(g, %(seed)s + 5, 24)],
               (%(genres)s::text[])[1 + demo.pick(g, %(seed)s + 6, 8)],
               date '1990-01-01' + demo.pick(g, %(seed)s + 7, 13000)::int
        FROM generate_series(1, %(albums)s) g
        """,
        params,
    )
    cursor.execute(
        """
        INSERT INTO demo.users (org, id, display_name, email, country, plan, created_at)
        SELECT %(org)s, g, 'User ' || g, 'user' || g || '@' || %(org)s || '.example',
               (%(countries)s::text[])[1 + demo.pick(g, %(seed)s + 8, 12)],
               (%(plans)s::text[])[1 + demo.pick(g, %(seed)s + 9, 4)],
               %(start)s::timestamptz - interval '2 years'
               + demo.pick(g, %(seed)s + 10, 2 * %(seconds)s) * interval '1 second'
        FROM generate_series(1, %(users)s) g
        """,
        params,
    )
    cursor.execute(
        """
        INSERT INTO demo.users (org, id, display_name, email, country, plan, created_at)
        SELECT %(org)s, %(users)s + n, name, 'hostile' || n || '@' || %(org)s || '.example',
               (%(countries)s::text[])[n], (%(plans)s::text[])[1 + (n - 1) %% 4],
               %(start)s::timestamptz - n * interval '1 day'
        FROM unnest(%(hostile)s::text[]) WITH ORDINALITY AS h(name, n)
        """,
        {**params, "hostile": HOSTILE_DISPLAY_NAMES},
    )
    cursor.execute(
        """
        INSERT INTO demo.sessions
            (org, id, user_id, album_id, started_at, duration_ms, country, device)
        SELECT %(org)s, g,
               1 + demo.pick(g, %(seed)s + 11, %(users)s),
               1 + demo.pick(g, %(seed)s + 12, %(albums)s),
               %(start)s::timestamptz
               + demo.pick(g, %(seed)s + 13, %(seconds)s) * interval '1 second',
               (20000 + demo.pick(g, %(seed)s + 14, 580000))::int,
               (%(countries)s::text[])[1 + demo.pick(g, %(seed)s + 15, 12)],
               (%(devices)s::text[])[1 + demo.pick(g, %(seed)s + 16, 6)]
        FROM generate_series(1, %(sessions)s) g
        """,
        params,
    )


def _org_seed(org: str) -> int:
    # Python's hash() is salted per process; this must not be.
    return sum((index + 1) * ord(char) for index, char in enumerate(org)) * 1000


def fill(database_url: str, orgs: list[str], sessions: int, users: int | None, albums: int) -> None:
    users = users or max(50, sessions // 50)
    with connect(database_url) as connection:
        with connection.cursor() as cursor:
            cursor.execute(SCHEMA)
            for org in orgs:
                started = time.perf_counter()
                _fill_org(cursor, org, sessions, users, albums)
                log.info(
                    "demo.filled org=%s sessions=%d users=%d albums=%d seconds=%.1f",
                    org,
                    sessions,
                    users,
                    albums,
                    time.perf_counter() - started,
                )
        connection.commit()
        connection.autocommit = True
        connection.execute("ANALYZE demo.artists, demo.albums, demo.users, demo.sessions")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m shared.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--orgs", default="acme,globex", help="comma-separated org names")
    parser.add_argument("--sessions", type=int, default=100_000, help="sessions per org")
    parser.add_argument("--users", type=int, default=None, help="users per org (sessions/50)")
    parser.add_argument("--albums", type=int, default=400, help="albums per org")
    args = parser.parse_args(argv)
    orgs = [org.strip() for org in args.orgs.split(",") if org.strip()]
    if not orgs or args.sessions < 0 or args.albums < 1:
        parser.error("need at least one org, sessions >= 0 and albums >= 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings.from_env()
    fill(settings.source_database_url, orgs, args.sessions, args.users, args.albums)


if __name__ == "__main__":
    main()
