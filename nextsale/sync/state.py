"""What has been sent, kept in the warehouse beside what should be (schema `sync`), so that the
diff is one SQL join: rows whose hash differs from the last successfully synced one are sent,
rows that left the table (in mirror mode) or asked to be erased are deleted.

A row enters `sync.state` only once its destination confirmed it, batch by batch: a crash loses
at most the batch in flight, and the next run's diff sends exactly what is still missing.
Asynchronous jobs (Klaviyo imports) are journalled in `sync.pending_jobs` once accepted, so a
resumed run finishes them instead of sending their records again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

DDL = """
create schema if not exists sync;
create table if not exists sync.state (
    destination varchar, record_key varchar, row_hash varchar, match_key varchar,
    email varchar, destination_id varchar, synced_at timestamp, run_id varchar,
    primary key (destination, record_key));
create table if not exists sync.memberships (
    destination varchar, list_name varchar, record_key varchar, match_key varchar,
    synced_at timestamp, primary key (destination, list_name, record_key));
create table if not exists sync.lists (
    destination varchar, list_name varchar, list_id varchar, primary key (destination, list_name));
create table if not exists sync.pending_jobs (
    destination varchar, job_id varchar, kind varchar, records json, accepted_at timestamp,
    primary key (destination, job_id));
create table if not exists sync.erased_addresses (
    destination varchar, email varchar, erased_at timestamp, run_id varchar,
    primary key (destination, email));
create table if not exists sync.failures (
    run_id varchar, destination varchar, record_key varchar, operation varchar,
    status_code integer, message varchar, failed_at timestamp);
create table if not exists sync.log (
    run_id varchar, destination varchar, started_at timestamp, finished_at timestamp,
    status varchar, dry_run boolean, mirror boolean, rows_in_table bigint, planned_upserts bigint,
    planned_deletes bigint, sent bigint, failed bigint, deleted bigint, requests bigint,
    retried bigint, throttled bigint, duration_s double, diff_s double, message varchar);
alter table sync.log add column if not exists planned_clears bigint;
alter table sync.log add column if not exists cleared bigint;
"""


@dataclass(frozen=True)
class Outcome:
    """What the destination said about one record. ok None: planned only (dry run)."""

    record_key: str
    ok: bool | None
    destination_id: str | None = None
    status_code: int | None = None
    message: str | None = None


@dataclass(frozen=True)
class Plan:
    rows_in_table: int
    upserts: pa.Table  # the table's rows to send, with record_key and row_hash first
    deletes: pd.DataFrame  # record_key, match_key, email, destination_id, reason
    diff_seconds: float
    # records held for people who may not be marketed to, to clear (same columns as deletes)
    clears: pd.DataFrame = field(default_factory=pd.DataFrame)


INTENT = "intent:"  # a job journalled before it was posted, its answer not yet seen

# A record whose nextsale fields were cleared: it differs from any row, so a person who
# consents again is sent again, and it is not cleared twice.
CLEARED = "cleared"


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class SyncState:
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        destination: str,
        run_id: str,
        redact: Callable[[str | None], str | None] = lambda text: text,
    ):
        # `redact` cleans what a vendor said before it is stored (it may echo a credential)
        self.con, self.destination, self.run_id, self.redact = con, destination, run_id, redact
        con.execute("set enable_progress_bar = false")
        con.execute(DDL)

    def holds_records(self) -> bool:
        """Whether nextsale has sent this destination anything it still holds there."""
        return bool(
            self.con.execute(
                "select exists (select 1 from sync.state where destination = $d and row_hash "
                "<> $cleared) or exists (select 1 from sync.memberships where destination = $d)",
                {"d": self.destination, "cleared": CLEARED},
            ).fetchall()[0][0]
        )

    def plan(
        self,
        table: str,
        key: str,
        email: str,
        hash_exclude: tuple[str, ...],
        erasures: str,
        mirror: bool,
        retired: str | None = None,
        match: str | None = None,
        suppressions: str | None = None,
        clear_reasons: tuple[str, ...] = (),
        erase_addresses: bool = False,
    ) -> Plan:
        """The diff of `table` against the last synced state, in SQL. `erasures` is a relation
        with the emails of people who asked to be erased: they are deleted even when mirror mode
        is off, and never sent. `retired` is a relation of record keys retired when two people
        merged: their records are deleted whatever the mode, except that one whose `match` key
        (what the vendor matches people on) a current row still uses is only forgotten here
        (its destination_id comes out empty): the surviving record is that same vendor record.

        `suppressions` is a relation of (customer_key, email, reason) of people who may not be
        marketed to: the records held for those whose reason is in `clear_reasons` are planned
        as clears (once: a cleared record is marked CLEARED). With `erase_addresses`, every
        erased email the state does not know is planned as a delete of its own (record_key
        'email:<address>'), once per destination: the vendor may hold the person under an
        address nextsale never sent."""
        started = datetime.now()
        columns = [r[0] for r in self.con.execute(f"describe {table}").fetchall()]
        hashed = ", ".join(f'"{c}" := "{c}"' for c in columns if c not in hash_exclude)
        self.con.execute(
            f"""create or replace temp table current_rows as
            select cast("{key}" as varchar) as record_key, lower("{email}") as email,
                   cast("{match or key}" as varchar) as match_key,
                   md5(to_json(struct_pack({hashed}))) as row_hash
            from {table}"""
        )
        self.con.execute(
            "create or replace temp table retired as "
            + (
                f"select distinct cast(record_key as varchar) as record_key from ({retired})"
                if retired
                else "select null::varchar as record_key limit 0"
            )
        )
        self.con.execute(
            f"""create or replace temp table erased as
            select distinct lower(email) as email from ({erasures}) where email is not null"""
        )
        self.con.execute(
            """create or replace temp table to_upsert as
            select c.record_key, c.row_hash
            from current_rows c
            left join sync.state s on s.destination = $1 and s.record_key = c.record_key
            where s.row_hash is distinct from c.row_hash
              and c.email not in (select email from erased)""",
            [self.destination],
        )
        upserts = self.con.execute(
            f"""select u.record_key, u.row_hash, t.*
            from to_upsert u join {table} t on cast(t."{key}" as varchar) = u.record_key
            order by u.record_key"""
        ).to_arrow_table()
        deletes = self.con.execute(
            """select s.record_key, s.match_key, s.email,
                   case when e.email is null and r.record_key is not null
                             and s.match_key in (select match_key from current_rows) then null
                        else s.destination_id end as destination_id,
                   case when e.email is not null then 'erasure'
                        when r.record_key is not null then 'merged' else 'mirror' end as reason
            from sync.state s
            left join current_rows c on c.record_key = s.record_key
            left join erased e on e.email = s.email
            left join retired r on r.record_key = s.record_key
            where s.destination = $1
              and (e.email is not null
                   or (c.record_key is null and ($2 or r.record_key is not null)))
            order by s.record_key""",
            [self.destination, mirror],
        ).df()
        if erase_addresses:
            addresses = self.con.execute(
                """select 'email:' || e.email as record_key, e.email as match_key, e.email,
                       null::varchar as destination_id, 'erasure' as reason
                from erased e
                where e.email not in (select email from sync.state where destination = $1)
                  and e.email not in (
                      select email from sync.erased_addresses where destination = $1)
                order by e.email""",
                [self.destination],
            ).df()
            deletes = (
                pd.concat([deletes, addresses], ignore_index=True) if len(addresses) else deletes
            )
        clears = pd.DataFrame(columns=list(deletes.columns))
        if suppressions and clear_reasons:
            clears = self.con.execute(
                f"""select distinct on (s.record_key) s.record_key, s.match_key, s.email,
                       s.destination_id, p.reason
                from sync.state s
                join ({suppressions}) p
                  on p.customer_key = s.record_key or lower(p.email) = s.email
                where s.destination = $1 and s.row_hash <> $2
                  and p.reason in (select unnest($3::varchar[]))
                order by s.record_key, p.reason""",
                [self.destination, CLEARED, list(clear_reasons)],
            ).df()
            clears = clears[~clears["record_key"].isin(deletes["record_key"])]
        rows_in_table = self.con.execute("select count(*) from current_rows").fetchall()[0][0]
        elapsed = (datetime.now() - started).total_seconds()
        return Plan(rows_in_table, upserts, deletes, elapsed, clears)

    def record_upserts(
        self, rows: list[dict], outcomes: list[Outcome], match: str, email: str
    ) -> None:
        by_key = {row["record_key"]: row for row in rows}
        sent = [
            (
                self.destination,
                o.record_key,
                by_key[o.record_key]["row_hash"],
                by_key[o.record_key].get(match),
                (by_key[o.record_key].get(email) or "").lower(),
                o.destination_id,
                now(),
                self.run_id,
            )
            for o in outcomes
            if o.ok
        ]
        if sent:
            columns = [
                "destination",
                "record_key",
                "row_hash",
                "match_key",
                "email",
                "destination_id",
                "synced_at",
                "run_id",
            ]
            self.con.register(
                "sent_rows", pa.table(dict(zip(columns, zip(*sent, strict=True), strict=True)))
            )
            # an index lookup per row, so a batch costs the same however large the state is;
            # an id learnt earlier is kept when this answer did not repeat it
            self.con.execute(
                """insert into sync.state select * from sent_rows
                on conflict (destination, record_key) do update set
                    row_hash = excluded.row_hash, match_key = excluded.match_key,
                    email = excluded.email,
                    destination_id = coalesce(excluded.destination_id, destination_id),
                    synced_at = excluded.synced_at, run_id = excluded.run_id"""
            )
            self.con.unregister("sent_rows")
        self.record_failures("upsert", outcomes)

    def record_clears(self, outcomes: list[Outcome]) -> None:
        cleared = [o.record_key for o in outcomes if o.ok]
        if cleared:
            self.con.execute(
                "update sync.state set row_hash = $1, synced_at = $2, run_id = $3 "
                "where destination = $4 and record_key in (select unnest($5::varchar[]))",
                [CLEARED, now(), self.run_id, self.destination, cleared],
            )
        self.record_failures("clear", outcomes)

    def record_deletes(self, rows: list[dict], outcomes: list[Outcome]) -> None:
        """Deleted records leave the state; an erased address is remembered, so that it is
        not deleted again while its request stays."""
        deleted = [o.record_key for o in outcomes if o.ok]
        erased = {r["record_key"]: r["email"] for r in rows if r["reason"] == "erasure"}
        addresses = sorted({erased[k] for k in deleted if erased.get(k)})
        if addresses:
            self.con.executemany(
                "insert or replace into sync.erased_addresses values (?, ?, ?, ?)",
                [(self.destination, a, now(), self.run_id) for a in addresses],
            )
        if deleted:
            self.con.execute(
                "delete from sync.state where destination = $1 and record_key in "
                "(select unnest($2::varchar[]))",
                [self.destination, deleted],
            )
        self.record_failures("delete", outcomes)

    def record_failures(self, operation: str, outcomes: list[Outcome]) -> None:
        failed = [
            (
                self.run_id,
                self.destination,
                o.record_key,
                operation,
                o.status_code,
                self.redact(o.message),
                now(),
            )
            for o in outcomes
            if o.ok is False
        ]
        if failed:
            self.con.executemany("insert into sync.failures values (?, ?, ?, ?, ?, ?, ?)", failed)

    # -- asynchronous jobs -------------------------------------------------------------------
    def journal_job(self, job_id: str, kind: str, records: list[dict]) -> None:
        self.con.execute(
            "insert or replace into sync.pending_jobs values ($1, $2, $3, $4, $5)",
            [self.destination, job_id, kind, json.dumps(records, default=str), now()],
        )

    def journal_intent(self, kind: str, records: list[dict]) -> str:
        """Journal a job before it is posted (id 'intent:<uuid>'): a run killed before it
        learnt the vendor's answer then asks the vendor instead of posting it again."""
        intent = f"{INTENT}{uuid.uuid4().hex}"
        self.journal_job(intent, kind, records)
        return intent

    def accept_job(self, intent: str, job_id: str) -> None:
        """The vendor accepted the intent's job: journal it under the vendor's id."""
        self.con.execute("begin transaction")
        self.con.execute(
            "update sync.pending_jobs set job_id = $1 where destination = $2 and job_id = $3",
            [job_id, self.destination, intent],
        )
        self.con.execute("commit")

    def pending_jobs(self) -> list[tuple[str, str, list[dict], datetime]]:
        """(job_id, kind, records, journalled at) of every job not yet collected; a job_id
        starting with INTENT was journalled but its answer never seen."""
        rows = self.con.execute(
            "select job_id, kind, records, accepted_at from sync.pending_jobs "
            "where destination = $1 order by accepted_at",
            [self.destination],
        ).fetchall()
        return [(job_id, kind, json.loads(records), at) for job_id, kind, records, at in rows]

    def finish_job(self, job_id: str | None) -> None:
        """The job is done or was refused (None: a dry run's, never journalled)."""
        if job_id is None:
            return
        self.con.execute(
            "delete from sync.pending_jobs where destination = $1 and job_id = $2",
            [self.destination, job_id],
        )

    # -- lists and memberships ---------------------------------------------------------------
    def list_id(self, list_name: str) -> str | None:
        row = self.con.execute(
            "select list_id from sync.lists where destination = $1 and list_name = $2",
            [self.destination, list_name],
        ).fetchone()
        return row[0] if row else None

    def remember_list(self, list_name: str, list_id: str) -> None:
        self.con.execute(
            "insert or replace into sync.lists values ($1, $2, $3)",
            [self.destination, list_name, list_id],
        )

    def membership_changes(
        self, wanted: str, only_synced: bool = True
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(additions, removals) of list_name, record_key, match_key: `wanted` (a relation of
        those three) against the memberships already synced. With `only_synced`, only people
        the destination already holds are added (a dry run plans for everyone)."""
        query = (
            "select w.list_name, cast(w.record_key as varchar) as record_key, w.match_key "
            f"from ({wanted}) w"
        )
        parameters = []
        if only_synced:
            query += " join sync.state s on s.destination = $1 and s.record_key = w.record_key"
            parameters = [self.destination]
        self.con.execute(f"create or replace temp table wanted_members as {query}", parameters)
        additions = self.con.execute(
            """select * from wanted_members w where not exists (
                select 1 from sync.memberships m where m.destination = $1
                and m.list_name = w.list_name and m.record_key = w.record_key)
            order by list_name, record_key""",
            [self.destination],
        ).df()
        removals = self.con.execute(
            """select m.list_name, m.record_key, m.match_key from sync.memberships m
            where m.destination = $1 and not exists (
                select 1 from wanted_members w
                where w.list_name = m.list_name and w.record_key = m.record_key)
            order by list_name, record_key""",
            [self.destination],
        ).df()
        return additions, removals

    def record_memberships(self, list_name: str, added: list[dict], removed: list[str]) -> None:
        if added:
            self.con.executemany(
                "insert or replace into sync.memberships values (?, ?, ?, ?, ?)",
                [
                    (self.destination, list_name, r["record_key"], r["match_key"], now())
                    for r in added
                ],
            )
        if removed:
            self.con.execute(
                "delete from sync.memberships where destination = $1 and list_name = $2 "
                "and record_key in (select unnest($3::varchar[]))",
                [self.destination, list_name, removed],
            )

    def write_log(self, entry: dict) -> None:
        """Write the run's row of sync.log, or bring it up to date: a run writes it when it
        starts and after every batch, so one killed part-way still says what it did."""
        columns = [r[0] for r in self.con.execute("describe sync.log").fetchall()]
        values = [self.redact(entry.get(c)) if c == "message" else entry.get(c) for c in columns]
        self.con.execute("begin transaction")
        self.con.execute("delete from sync.log where run_id = ?", [entry["run_id"]])
        self.con.execute(
            f"insert into sync.log ({', '.join(columns)}) values ({', '.join('?' * len(columns))})",
            values,
        )
        self.con.execute("commit")

    def suppressed_memberships(self, suppressions: str | None) -> pd.DataFrame:
        """The list memberships of people who may not be marketed to (every list nextsale
        fills is an email list)."""
        if suppressions is None:
            return pd.DataFrame(columns=["list_name", "record_key", "match_key"])
        return self.con.execute(
            f"""select m.list_name, m.record_key, m.match_key from sync.memberships m
            where m.destination = $1 and exists (
                select 1 from ({suppressions}) p
                where p.customer_key = m.record_key or lower(p.email) = lower(m.match_key))
            order by m.list_name, m.record_key""",
            [self.destination],
        ).df()


# a run killed part-way has no finish: it shows when it started
LAST_RUNS_SQL = (
    "select * replace (coalesce(finished_at, started_at) as finished_at, "
    "coalesce(requests, 0) as requests, coalesce(planned_upserts, 0) as planned_upserts, "
    "coalesce(planned_deletes, 0) as planned_deletes, coalesce(rows_in_table, 0) as rows_in_table) "
    "from sync.log "
    "qualify row_number() over (partition by destination order by started_at desc) = 1 "
    "order by destination"
)


def last_runs(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The latest run of each destination (sync.log), for the summary and the report."""
    return con.execute(LAST_RUNS_SQL).df()


def recent_runs(database: Path, destination: str, limit: int = 10) -> pd.DataFrame:
    """The destination's latest runs from sync.log, newest first (the sync asset shows them)."""
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(
            # a run killed part-way has no finish: it shows when it started, and its counts
            "select coalesce(finished_at, started_at) as finished_at, status, "
            "coalesce(planned_upserts, 0) as planned_upserts, "
            "coalesce(planned_deletes, 0) as planned_deletes, sent, failed, deleted, "
            "coalesce(requests, 0) as requests, coalesce(retried, 0) as retried, "
            "coalesce(throttled, 0) as throttled, coalesce(duration_s, 0) as duration_s, message "
            "from sync.log where destination = ? order by started_at desc limit ?",
            [destination, limit],
        ).df()
