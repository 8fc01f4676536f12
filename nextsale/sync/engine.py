"""One sync run of one destination: diff, send, checkpoint, log (DESIGN §6).

1. finish the asynchronous jobs a crashed run left accepted but unconfirmed;
2. prepare the destination (custom fields);
3. diff the activation table against the last synced state (SQL);
4. send new and changed rows in the vendor's batch size, splitting a batch the vendor
   refuses whole so that one bad record cannot hold back the others;
5. delete erased people (and, in mirror mode, people who left the table);
6. bring list memberships up to date, for destinations with lists;
7. write the sync log. Failed records are logged with the vendor's message and stay out of
   the state, so every later run tries them again.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from nextsale.sync.destinations import DESTINATIONS, BatchRejected, Context, Destination, chunks
from nextsale.sync.http import Client, RateLimiter, TransportError
from nextsale.sync.state import Outcome, SyncState, now

log = logging.getLogger(__name__)
ERASURES = "select email from activation.erasure_requests"
# Keys retired when two people merged: the record under each is removed at every destination.
RETIRED = "select retired_customer_key as record_key from activation.retired_customer_keys"


# Each audience with its sendable members and all its members: the one rule, for the CLI and
# Dagster alike, that an audience table with nobody sendable is a broken build, not an order to
# empty the destination's lists.
AUDIENCE_COUNTS = (
    "select audience, count(case when is_sendable then 1 end) as sendable, count(*) as members "
    "from activation.audience_members group by 1 order by 1"
)


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """A warehouse built before the table existed has none: nothing retired yet."""
    return bool(
        con.execute(
            "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
    )


class SyncError(RuntimeError):
    """A sync that could not run or stopped early; the log says how far it got."""


@dataclass
class SyncResult:
    log: dict
    failures: list[dict] = field(default_factory=list)


def destination_for(name: str, env: Mapping[str, str] | None = None) -> Destination:
    if name not in DESTINATIONS:
        raise SyncError(f"unknown destination {name!r}: one of {', '.join(DESTINATIONS)}")
    return DESTINATIONS[name].from_env(os.environ if env is None else env)


def sync(
    name: str,
    database: Path,
    *,
    env: Mapping[str, str] | None = None,
    dry_run_dir: Path | None = None,
    mirror: bool = False,
    poll_seconds: float = 2.0,
    job_timeout_seconds: float = 900.0,
    max_in_flight: int = 1,
    client_options: Mapping | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SyncResult:
    """Sync one destination from the warehouse at `database`. Without the destination's token,
    or with `dry_run_dir`, nothing is sent: the planned requests are written there instead.

    `max_in_flight` batches are sent at once. One (the default) means a crash can leave at most
    the batch in flight unconfirmed, and with it only the instant between the vendor's answer
    and the checkpoint; more gets closer to the rate limit when the vendor is slow to answer, at
    the price of up to that many batches sent again after a crash (upserts: harmless, but not
    exactly once).

    `progress(done, total)` is called as upserts are confirmed (records sent or refused, of
    those planned), for a progress bar."""
    environment = os.environ if env is None else env
    destination = destination_for(name, environment)
    if destination.token is None and dry_run_dir is None:
        raise SyncError(
            f"{name}: {destination.token_env} is not set; set it to sync, or plan a dry run "
            f"with `nextsale sync {name} --dry-run --out DIR`"
        )
    if (
        dry_run_dir is None
        and destination.base_url_required
        and not any(environment.get(v) for v in destination.base_url_env)
    ):
        raise SyncError(
            f"{name}: {destination.token_env} is set but {destination.base_url_env[-1]} is not; "
            "set it to your org's URL (for example https://acme.my.salesforce.com)"
        )
    run_id = f"{name}-{now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    client = Client(
        destination.base_url,
        destination.headers(),
        {bucket: RateLimiter(limits) for bucket, limits in destination.limits.items()},
        dry_run_dir=dry_run_dir,
        **(client_options or {}),
    )
    started = time.monotonic()
    with duckdb.connect(str(database)) as con:
        if not mirror:
            _refuse_empty_audiences(con, name)
        state = SyncState(con, name, run_id, client.redact)
        columns = dict(
            con.execute(
                f"select column_name, column_type from (describe {destination.table})"
            ).fetchall()
        )
        ctx = Context(client, state, columns, poll_seconds, job_timeout_seconds)
        entry = {
            "run_id": run_id, "destination": name, "started_at": now(), "status": "running",
            "dry_run": client.dry_run, "mirror": mirror, "sent": 0, "failed": 0, "deleted": 0,
        }  # fmt: skip
        failures: list[Outcome] = []
        try:
            run = Run(destination, ctx, entry, failures, max_in_flight, progress)
            run.resume()
            plan = state.plan(
                destination.table,
                destination.key,
                destination.email,
                destination.hash_exclude,
                ERASURES,
                mirror,
                retired=RETIRED if _has_table(con, "activation", "retired_customer_keys") else None,
                match=destination.match,
            )
            entry |= {
                "rows_in_table": plan.rows_in_table,
                "planned_upserts": plan.upserts.num_rows,
                "planned_deletes": len(plan.deletes),
                "diff_s": round(plan.diff_seconds, 3),
            }
            if plan.upserts.num_rows:
                destination.prepare(ctx)
            run.upserts(plan.upserts.to_pylist())
            run.deletes(plan.deletes.to_dict("records"))
            run.collect_jobs()  # memberships need the people they name synced first
            run.memberships()
            run.collect_jobs()
            entry["status"] = (
                "dry run" if client.dry_run else "partial" if entry["failed"] else "success"
            )
        except TransportError as error:
            entry |= {"status": "failed", "message": str(error)}
        except Exception as error:  # noqa: BLE001 - logged as failed, then raised as SyncError
            entry |= {"status": "failed", "message": f"{type(error).__name__}: {error}"}
        finally:
            entry |= {
                "finished_at": now(),
                "duration_s": round(time.monotonic() - started, 3),
                "requests": client.planned_requests if client.dry_run else client.counters.requests,
                "retried": client.counters.retries,
                "throttled": client.counters.throttled,
            }
            state.write_log(entry)  # dry runs too: the report and summary show the last plan
    result = SyncResult(entry, [f.__dict__ for f in failures])
    log.info("sync %s: %s", name, {k: v for k, v in entry.items() if k != "message"})
    if entry["status"] == "failed":
        raise SyncError(f"{name} sync {run_id} stopped: {client.redact(entry['message'])}")
    return result


def _refuse_empty_audiences(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """An audience table with nobody sendable (or none at all) would empty every list: refuse,
    unless the caller asked for a mirror on purpose."""
    if not _has_table(con, "activation", "audience_members"):
        raise SyncError(
            f"{name}: there is no activation.audience_members table: nothing was sent or removed. "
            "Build the activation tables first (dagster asset materialize ... --select "
            "'group:activation')."
        )
    counts = con.execute(AUDIENCE_COUNTS).fetchall()
    if not sum(sendable for _, sendable, _ in counts):
        members = sum(n for _, _, n in counts)
        raise SyncError(
            f"{name}: no audience has anyone who may be sent ({members:,} members, all held back "
            "by consent, suppression, holdout or the cap): nothing was sent or removed, so the "
            "destination's lists are not emptied. Check scores.customer_scores and the consent "
            "flags; pass --mirror only to empty the destination on purpose."
        )


@dataclass
class Run:
    destination: Destination
    ctx: Context
    entry: dict
    failures: list[Outcome]
    max_in_flight: int = 1
    progress: Callable[[int, int], None] | None = None
    jobs: list[tuple[str, str, list[dict]]] = field(default_factory=list)
    confirmed: int = 0

    @property
    def state(self) -> SyncState:
        return self.ctx.state

    def resume(self) -> None:
        """Jobs the last run got accepted but did not see finish: confirm them, send nothing."""
        self.jobs += self.state.pending_jobs()
        self.collect_jobs()

    def upserts(self, rows: list[dict]) -> None:
        batches = chunks(rows, self.destination.batch_size)
        if self.destination.asynchronous:
            for batch in batches:
                self.submit(batch, "profiles")
            return
        # batches go out from a few threads; only this thread writes the checkpoints, in order
        in_flight: deque = deque()
        with ThreadPoolExecutor(self.max_in_flight) as pool:
            try:
                for batch in batches:
                    in_flight.append((batch, pool.submit(self.send, batch)))
                    if len(in_flight) >= self.max_in_flight:
                        batch, answer = in_flight.popleft()
                        self.record_upserts(batch, answer.result())
            finally:  # keep what landed, even when one batch failed for good
                for batch, answer in in_flight:
                    if answer.exception() is None:
                        self.record_upserts(batch, answer.result())

    def send(self, batch: list[dict]) -> list[Outcome]:
        """Upsert a batch; if the vendor refuses it whole, upsert each half, down to one record."""
        try:
            return self.destination.upsert(self.ctx, batch)
        except BatchRejected as rejected:
            if len(batch) == 1:
                return [
                    Outcome(batch[0]["record_key"], False, None, rejected.status, rejected.message)
                ]
            middle = len(batch) // 2
            return self.send(batch[:middle]) + self.send(batch[middle:])

    def submit(self, batch: list[dict], kind: str, list_id: str | None = None) -> None:
        """Asynchronous destinations: post the batch's jobs, journalling each accepted one
        before anything else happens."""
        for job in self.destination.jobs(batch, list_id):
            self.submit_job(job, kind, list_id)

    def submit_job(self, job: list[tuple], kind: str, list_id: str | None) -> None:
        """Post one job; if the vendor refuses it whole, post each half, down to one record."""
        try:
            job_id = self.destination.post_job(self.ctx, job, list_id)
        except BatchRejected as rejected:
            if len(job) == 1:
                record = job[0][0]
                refused = Outcome(
                    record["record_key"], False, None, rejected.status, rejected.message
                )
                self.record_job(kind, [record], [refused])
                return
            middle = len(job) // 2
            self.submit_job(job[:middle], kind, list_id)
            self.submit_job(job[middle:], kind, list_id)
            return
        if job_id is None:
            return  # dry run
        kept = (
            "record_key",
            "row_hash",
            "match_key",
            self.destination.match,
            self.destination.email,
        )
        records = [{k: record.get(k) for k in kept} for record, _ in job]
        self.state.journal_job(job_id, kind, records)
        self.jobs.append((job_id, kind, records))

    def collect_jobs(self) -> None:
        while self.jobs:
            job_id, kind, records = self.jobs.pop(0)
            self.record_job(kind, records, self.destination.collect(self.ctx, job_id, records))
            self.state.finish_job(job_id)

    def record_job(self, kind: str, records: list[dict], outcomes: list[Outcome]) -> None:
        """A job's outcomes: profiles into the state; list additions into the memberships."""
        if kind == "profiles":
            self.record_upserts(records, outcomes)
            return
        list_name = kind.removeprefix("members:")
        added = {o.record_key for o in outcomes if o.ok}
        self.state.record_memberships(
            list_name, [r for r in records if r["record_key"] in added], []
        )
        self.state.record_failures(f"add to {list_name}", outcomes)
        self.note_failures(outcomes)

    def record_upserts(self, records: list[dict], outcomes: list[Outcome]) -> None:
        self.state.record_upserts(records, outcomes, self.destination.match, self.destination.email)
        self.entry["sent"] += sum(o.ok is True for o in outcomes)
        self.note_failures(outcomes)
        self.confirmed += len(records)
        if self.progress is not None:
            self.progress(self.confirmed, self.entry.get("planned_upserts") or self.confirmed)

    def note_failures(self, outcomes: list[Outcome]) -> None:
        failed = [o for o in outcomes if o.ok is False]
        self.entry["failed"] += len(failed)
        self.failures += failed

    def deletes(self, rows: list[dict]) -> None:
        if not rows:
            return
        outcomes = self.destination.delete(self.ctx, rows)
        self.state.record_deletes(outcomes)
        self.entry["deleted"] += sum(o.ok is True for o in outcomes)
        self.note_failures(outcomes)

    def memberships(self) -> None:
        wanted = self.destination.wanted_memberships
        if wanted is None:
            return
        additions, removals = self.state.membership_changes(wanted, not self.ctx.client.dry_run)
        for list_name, members in removals.groupby("list_name", sort=True):
            removed = self.destination.remove_members(
                self.ctx, list_name, members.to_dict("records")
            )
            self.state.record_memberships(list_name, [], removed)
        for list_name, members in additions.groupby("list_name", sort=True):
            list_id = self.destination.ensure_list(self.ctx, list_name)
            self.submit(members.to_dict("records"), f"members:{list_name}", list_id)
