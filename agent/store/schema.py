"""The store's schema and its migrations (tracked with SQLite's `user_version`).

Columns a dashboard aggregates on are real, typed columns; the whole record is kept as
JSON beside them, so nothing measured is lost and later fields need no migration.
`ship_state` makes the table the Elasticsearch outbox.

v2 (write early, complete later): rows could be written before the cost engine had
their cost (`cost_status` 'pending') and completed later. Agents since then keep such
records in the `held` table (v5, see `held`) and insert one final row; v5 finalises any
pending row an older agent left as 'lost'. Only final or lost rows get a `ship_seq`, the
order the shipper reads the outbox in.
"""

from __future__ import annotations

import logging
import sqlite3

from agent.store import rollups_sql

log = logging.getLogger("inferwatch.store")

# Values of `requests.ship_state`.
PENDING = 0  # not yet acknowledged by Elasticsearch
SHIPPED = 1  # Elasticsearch holds it (created, or already there)
REJECTED = 2  # not shipped, for good (refused as malformed, or dead-lettered): not retried

_V1 = """
CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    wall_time REAL NOT NULL,
    tenant TEXT NOT NULL,
    model TEXT NOT NULL,
    operation TEXT NOT NULL,
    status TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    error_type TEXT,
    stream INTEGER NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    latency_s REAL NOT NULL,
    ttft_s REAL,
    cost_amount REAL,
    cost_currency TEXT,
    cost_device_seconds REAL,
    cost_joules REAL,
    safety_hits INTEGER NOT NULL DEFAULT 0,
    record TEXT NOT NULL,
    ship_state INTEGER NOT NULL DEFAULT 0,
    ship_error TEXT
);
CREATE INDEX requests_wall_time ON requests (wall_time);
CREATE INDEX requests_request_id ON requests (request_id);
-- Partial index: only the outbox, so it stays small when shipping keeps up.
CREATE INDEX requests_unshipped ON requests (id) WHERE ship_state = 0;
"""

# Values of `requests.cost_status`.
COST_PENDING = "pending"  # written by agents before v5 while the cost engine held it
COST_FINAL = "final"  # the complete record (its cost final, or no cost engine)
COST_LOST = "lost"  # the cost never came (agent killed while holding it): shipped as is
COST_UNMETERED = "unmetered"  # final, but part of it no meter covered (record.COST_UNMETERED)

_V2 = f"""
ALTER TABLE requests ADD COLUMN cost_status TEXT NOT NULL DEFAULT '{COST_FINAL}';
ALTER TABLE requests ADD COLUMN ship_seq INTEGER;
UPDATE requests SET ship_seq = id WHERE ship_state = 0;
DROP INDEX requests_unshipped;
CREATE INDEX requests_unshipped ON requests (ship_seq)
    WHERE ship_state = 0 AND ship_seq IS NOT NULL;
CREATE INDEX requests_cost_pending ON requests (request_id) WHERE cost_status = '{COST_PENDING}';
"""

# v3: what the writer cannot store (`rejects`) and what the shipper gives up on
# (`dead_letters`) are kept, with why; the client's own request id gets a column; the
# agent's `request_id` becomes unique (see `_unique_request_ids`).
_V3 = """
ALTER TABLE requests ADD COLUMN client_request_id TEXT;
CREATE TABLE rejects (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    request_id TEXT,
    reason TEXT NOT NULL,
    error TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX rejects_at ON rejects (at);
CREATE INDEX rejects_request_id ON rejects (request_id);
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    row_id INTEGER,
    request_id TEXT,
    reason TEXT NOT NULL,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    document TEXT NOT NULL
);
CREATE INDEX dead_letters_at ON dead_letters (at);
"""

# Suffix given to the request id of a row that repeats an older row's (made by agents that
# took the client's x-request-id as theirs), so the unique index can be built.
DUPLICATE_MARK = "#dup-"


def _unique_request_ids(conn: sqlite3.Connection) -> None:
    """Make `request_id` unique. Rows an older agent stored under a repeated id are kept
    (they are real requests, with their costs): every one but the first of each id gets
    `<id>#dup-<row id>` in the column (their stored record JSON keeps the id as it was), and
    start goes on. Logged with the count."""
    renamed = conn.execute(
        f"UPDATE requests SET request_id = request_id || '{DUPLICATE_MARK}' || id "  # noqa: S608
        "WHERE id NOT IN (SELECT min(id) FROM requests GROUP BY request_id)"
    ).rowcount
    if renamed:
        log.warning(
            "store had rows with repeated request ids; kept, their ids suffixed",
            extra={"rows": renamed, "suffix": f"{DUPLICATE_MARK}<row id>"},
        )
    conn.execute("DROP INDEX requests_request_id")
    conn.execute("CREATE UNIQUE INDEX requests_request_id ON requests (request_id)")


def _v3(conn: sqlite3.Connection) -> None:
    for statement in _statements(_V3):
        conn.execute(statement)
    _unique_request_ids(conn)


def _v4(conn: sqlite3.Connection) -> None:
    """v4: the dashboard's rollup tables (see `rollups`), back-filled from the rows an
    older agent wrote, and the index of `cost_amount` (a range's most expensive requests)."""
    for statement in rollups_sql.ddl():
        conn.execute(statement)
    rows = rollups_sql.backfill(conn)
    if rows:
        log.info("store rollups back-filled from existing rows", extra={"rows": rows})


# The records a cost engine holds (see `held`): no index but the key, as it holds a few
# thousand at most and is read whole only every few seconds. A rowid table (not WITHOUT
# ROWID, which SQLite advises only for rows far smaller than a record's JSON): ~1 us less
# per record added and deleted, measured.
HELD_DDL = (
    "CREATE TABLE held (request_id TEXT PRIMARY KEY, ended_at REAL NOT NULL, record TEXT NOT NULL)"
)


def _v5(conn: sqlite3.Connection) -> None:
    """v5: the `held` table (records the cost engine holds, see `held`). Rows an older
    agent left pending become cost-lost, numbered after the outbox in id order (the
    agent that wrote them is gone: no cost can come)."""
    conn.execute(HELD_DDL)
    last = conn.execute("SELECT coalesce(max(ship_seq), 0) FROM requests").fetchone()[0]
    lost = conn.execute(
        f"UPDATE requests SET cost_status = '{COST_LOST}', ship_seq = ? + id "  # noqa: S608
        f"WHERE cost_status = '{COST_PENDING}'",
        (last,),
    ).rowcount
    if lost:
        log.warning(
            "store rows left pending by an older agent finalised as lost", extra={"rows": lost}
        )


# v6: several upstreams (agent/routing). A record's experiment and variant get columns, so
# an experiment's rows are found by index; `experiment_events` keeps what the agent decided
# (started, each canary step, each gate look, rolled back, promoted), for reports.
_V6 = """
ALTER TABLE requests ADD COLUMN experiment TEXT;
ALTER TABLE requests ADD COLUMN variant TEXT;
CREATE INDEX requests_experiment ON requests (experiment, wall_time)
    WHERE experiment IS NOT NULL;
CREATE TABLE experiment_events (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    experiment TEXT NOT NULL,
    event TEXT NOT NULL,
    step INTEGER,
    weight REAL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX experiment_events_name ON experiment_events (experiment, at);
"""

# Each entry migrates from version i to i+1 (SQL, or a function of the connection run in
# the migration's transaction); append, never edit.
MIGRATIONS: list = [_V1, _V2, _v3, _v4, _v5, _V6]
VERSION = len(MIGRATIONS)

DATA_COLUMNS = (
    "request_id",
    "wall_time",
    "tenant",
    "model",
    "operation",
    "status",
    "http_status",
    "error_type",
    "stream",
    "prompt_tokens",
    "completion_tokens",
    "latency_s",
    "ttft_s",
    "cost_amount",
    "cost_currency",
    "cost_device_seconds",
    "cost_joules",
    "safety_hits",
    "record",
)
_INSERT = (
    *DATA_COLUMNS,
    "ship_state",
    "cost_status",
    "ship_seq",
    "client_request_id",
    "experiment",
    "variant",
)
INSERT_SQL = (
    f"INSERT INTO requests ({', '.join(_INSERT)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(_INSERT))})"
)


class SchemaError(Exception):
    """The database was written by a newer inferwatch than this one."""


def connect(path: str, busy_timeout_ms: int = 2000, fsync: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode. `fsync` makes every commit fsync (synchronous=FULL)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    # Before WAL mode, which writes the header of a new file: set after it (as `migrate`
    # did), auto_vacuum stayed off and retention never gave space back. No-op otherwise.
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a crash of the process (not of the OS); FULL survives both.
    conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to `VERSION`; returns the version found before."""
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > VERSION:
        raise SchemaError(f"database schema v{found} is newer than this agent's v{VERSION}")
    if found == 0:
        # Must be set before the first table exists; lets retention give space back.
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
    for version in range(found, VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            step = MIGRATIONS[version]
            if callable(step):
                step(conn)
            else:
                for statement in _statements(step):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found


def _statements(script: str) -> list[str]:
    # `executescript` would commit the open transaction; run statement by statement instead.
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
