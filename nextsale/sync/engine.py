"""One sync run of one destination: diff, send, checkpoint, log.

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

from nextsale import provenance
from nextsale.sync.destinations import (
    DESTINATIONS,
    AsynchronousJobs,
    BatchRejected,
    BatchUpserts,
    Context,
    Destination,
    ListMemberships,
    chunks,
)
from nextsale.sync.http import Client, RateLimiter, TransportError
from nextsale.sync.state import INTENT, Outcome, SyncState, now
from nextsale.warehouse import has_table, in_use_message

log = logging.getLogger(__name__)
ERASURES = "select email from activation.erasure_requests"
# People who may not be marketed to (do not contact, no email opt-in): built in every run.
SUPPRESSIONS = "select customer_key, email, reason from activation.suppressions"
# When the published activation tables read consent, against what raw holds now.
WATERMARK = "activation.consent_watermark"
CONSENT_LOADS = (
    ("CRM contacts", "crm_contacts", "contacts_loaded_at"),
    ("erasure requests", "crm_erasure_requests", "erasures_loaded_at"),
)
# Keys retired when two people merged: the record under each is removed at every destination.
RETIRED = "select retired_customer_key as record_key from activation.retired_customer_keys"


# Each audience with its sendable members and all its members: the one rule, for the CLI and
# Dagster alike, that an audience table with nobody sendable is a broken build, not an order to
# empty a destination's lists (a destination nextsale never sent to has no lists to empty).
AUDIENCE_COUNTS = (
    "select audience, count(case when is_sendable then 1 end) as sendable, count(*) as members "
    "from activation.audience_members group by 1 order by 1"
)


class SyncError(RuntimeError):
    """A sync that could not run or stopped early; the log says how far it got."""


@dataclass
class SyncResult:
    log: dict
    failures: list[dict] = field(default_factory=list)


def _open(database: Path) -> duckdb.DuckDBPyConnection:
    """The warehouse file, or a SyncError that says in words who holds it."""
    try:
        return duckdb.connect(str(database))
    except duckdb.Error as error:
        message = in_use_message(error, database)
        if message is None:
            raise
        raise SyncError(message) from None


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
    if dry_run_dir is None and destination.token is not None:
        _refuse_generated_people(name, database, destination.base_url)
    run_id = f"{name}-{now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    client = Client(
        destination.base_url,
        destination.headers(),
        {bucket: RateLimiter(limits) for bucket, limits in destination.limits.items()},
        dry_run_dir=dry_run_dir,
        **(client_options or {}),
    )
    started = time.monotonic()
    with _open(database) as con:
        if not has_table(con, *destination.table.split(".")):
            raise SyncError(
                f"{name}: there is no {destination.table} in {database} yet. Materialise the "
                "pipeline first (`nextsale materialize`), then sync."
            )
        state = SyncState(con, name, run_id, client.redact)
        refused = refusals(con, mirror, state.holds_records())
        columns = dict(
            con.execute(
                f"select column_name, column_type from (describe {destination.table})"
            ).fetchall()
        )
        ctx = Context(client, state, columns, poll_seconds, job_timeout_seconds)
        entry = {
            "run_id": run_id,
            "destination": name,
            "started_at": now(),
            "status": "running",
            "dry_run": client.dry_run,
            "mirror": mirror,
            "sent": 0,
            "failed": 0,
            "deleted": 0,
            "cleared": 0,
        }
        state.write_log(entry)  # at once: a run killed later still shows that it began
        failures: list[Outcome] = []
        try:
            run = Run(destination, ctx, entry, failures, max_in_flight, progress)
            run.resume()
            suppressions = SUPPRESSIONS if has_table(con, "activation", "suppressions") else None
            if suppressions and refused:
                suppressions = _still_on_email_lists(con, suppressions)
            plan = state.plan(
                destination.table,
                destination.key,
                destination.email,
                destination.hash_exclude,
                ERASURES,
                mirror and not refused,
                retired=RETIRED if has_table(con, "activation", "retired_customer_keys") else None,
                match=destination.match,
                suppressions=suppressions,
                # a fresh table already leaves opted-out people off the email lists; a refused
                # one is not sent, so their list fields are cleared on their own
                clear_reasons=("do not contact", "no email opt-in")
                if refused
                else ("do not contact",),
                erase_addresses=destination.match == destination.email,
            )
            deletes = plan.deletes
            if refused:  # consent and erasure are applied whatever else is wrong
                deletes = deletes[deletes["reason"] == "erasure"]
            entry |= {
                "rows_in_table": plan.rows_in_table,
                "planned_upserts": 0 if refused else plan.upserts.num_rows,
                "planned_deletes": len(deletes),
                "planned_clears": len(plan.clears),
                "diff_s": round(plan.diff_seconds, 3),
            }
            state.write_log(entry)
            if not refused:
                if plan.upserts.num_rows:
                    destination.prepare(ctx)
                run.upserts(plan.upserts.to_pylist())
            run.deletes(deletes.to_dict("records"))
            run.clears(plan.clears.to_dict("records"))
            run.collect_jobs()  # memberships need the people they name synced first
            if refused:
                run.remove_memberships(state.suppressed_memberships(suppressions))
            else:
                run.memberships()
            run.collect_jobs()
            if refused:
                entry |= {
                    "status": "refused",
                    "message": "nothing was sent: " + "; ".join(refused) + ". Erasures and "
                    "suppressions were applied. " + REBUILD,
                }
            else:
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
        raise SyncError(f"{name} sync {run_id} stopped: {client.redact(str(entry['message']))}")
    if entry["status"] == "refused":
        raise SyncError(f"{name}: {entry['message']}")
    return result


def _refuse_generated_people(name: str, database: Path, base_url: str) -> None:
    """Generated people look real: they never go to an account that is not on this machine."""
    if provenance.is_local(base_url):
        return
    with duckdb.connect(str(database), read_only=True) as con:
        landing = provenance.generated_landing(con)
    if landing is not None:
        raise SyncError(
            f"{name}: the people in this warehouse were generated (the marker "
            f"{Path(landing) / provenance.MARKER} was ingested) and {base_url} is a real "
            "account: nothing was sent. Load your own data, or plan a dry run with "
            f"`nextsale sync {name} --dry-run`; if the landing folder now holds only real "
            f"exports, delete the marker and ingest again."
        )


def _still_on_email_lists(con: duckdb.DuckDBPyConnection, suppressions: str) -> str:
    """Suppressions a refused run must apply itself: do-not-contact, and opt-outs the stale
    audience table still sends email (the others' records already carry no email list)."""
    if not has_table(con, "activation", "audience_members"):
        return suppressions
    return (
        f"select * from ({suppressions}) where reason = 'do not contact' or customer_key in ("
        "select customer_key from activation.audience_members where is_sendable and channel = 'email')"
    )


REBUILD = "Rebuild them: the daily run, or `dg launch --assets 'group:activation'`."


def stale_consent(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Why the published activation tables may not be sent from: built before the latest
    consent or erasure data was loaded, or never published by a build whose tests passed."""
    if not has_table(con, "activation", "consent_watermark"):
        return [
            f"there is no {WATERMARK}: the activation tables were not published by a `dbt build` "
            "whose consent tests passed"
        ]
    reasons = []
    for label, table, column in CONSENT_LOADS:
        if not has_table(con, "raw", table):
            continue  # nothing of the kind was ever loaded: nothing newer than the build
        built_from, latest = con.execute(
            f"select (select {column} from {WATERMARK}), (select max(_loaded_at) from raw.{table})"
        ).fetchone() or (None, None)
        if latest is not None and (built_from is None or latest > built_from):
            reasons.append(
                f"{label} were loaded at {latest:%Y-%m-%d %H:%M:%S} UTC, after the activation "
                f"tables were built from the load of "
                f"{'none' if built_from is None else f'{built_from:%Y-%m-%d %H:%M:%S} UTC'}"
            )
    return reasons


def empty_audiences(con: duckdb.DuckDBPyConnection, holds_records: bool) -> list[str]:
    """An audience table with nobody sendable (or none at all) is a broken build, not an order
    to empty every list: refused where the destination holds records nextsale sent. A first
    run has nothing there to empty, so it goes on and sends what the table has (a shop whose
    export carries no consent yet has nobody to send, and still gets its dry run)."""
    if not has_table(con, "activation", "audience_members"):
        return ["there is no activation.audience_members table"]
    counts = con.execute(AUDIENCE_COUNTS).fetchall()
    if not holds_records or sum(sendable for _, sendable, _ in counts):
        return []
    return [
        f"no audience has anyone who may be sent ({sum(n for _, _, n in counts):,} members, all "
        "held back by consent, suppression, holdout or the cap), so the destination's lists "
        "would be emptied; check scores.customer_scores and the consent flags, and pass "
        "--mirror only to empty the destination on purpose"
    ]


def refusals(con: duckdb.DuckDBPyConnection, mirror: bool, holds_records: bool) -> list[str]:
    """The one check, for the CLI and Dagster alike, that the build may be sent from: published
    by a build whose consent tests passed, not older than the latest consent and erasure loads,
    and some audience to send where the destination `holds_records` nextsale sent. `mirror`
    lets an empty audience through only when the tables are provably complete (published and
    fresh)."""
    stale = stale_consent(con)
    if stale or mirror:
        return stale
    return empty_audiences(con, holds_records)


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
        """Jobs the last run journalled but did not see finish: confirm them, send nothing. A
        job journalled before it was posted, whose answer was never seen, is looked for at the
        vendor: found, it is collected; not found, it never arrived and the diff sends its
        records again."""
        destination = self.destination
        if not isinstance(destination, AsynchronousJobs):
            return  # only jobs are journalled
        for job_id, kind, records, journalled_at in self.state.pending_jobs():
            if job_id.startswith(INTENT):
                list_name = kind.removeprefix("members:") if kind.startswith("members:") else None
                found = destination.find_job(
                    self.ctx, records, journalled_at, list_name and self.state.list_id(list_name)
                )
                if found is None:
                    self.state.finish_job(job_id)
                    continue
                self.state.accept_job(job_id, found)
                job_id = found
            self.jobs.append((job_id, kind, records))
        self.collect_jobs()

    def upserts(self, rows: list[dict]) -> None:
        batches = chunks(rows, self.destination.batch_size)
        if isinstance(self.destination, AsynchronousJobs):
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
        destination = self.destination
        if not isinstance(destination, BatchUpserts):
            raise TypeError(f"{destination.name} sends jobs, not batches")
        try:
            return destination.upsert(self.ctx, batch)
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
        for job in self.jobs_destination().jobs(batch, list_id):
            self.submit_job(job, kind, list_id)

    def submit_job(self, job: list[tuple], kind: str, list_id: str | None) -> None:
        """Post one job, journalled first (a job is a creation: one posted twice imports
        twice); if the vendor refuses it whole, post each half, down to one record."""
        kept = (
            "record_key",
            "row_hash",
            "match_key",
            self.destination.match,
            self.destination.email,
        )
        records = [{k: record.get(k) for k in kept} for record, _ in job]
        intent = None if self.ctx.client.dry_run else self.state.journal_intent(kind, records)
        try:
            job_id = self.jobs_destination().post_job(self.ctx, job, list_id)
        except BatchRejected as rejected:
            self.state.finish_job(intent)  # refused: nothing was created
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
        if job_id is None or intent is None:
            return  # dry run
        self.state.accept_job(intent, job_id)
        self.jobs.append((job_id, kind, records))

    def jobs_destination(self) -> AsynchronousJobs:
        """The destination as one that takes jobs: only such a destination has any."""
        if not isinstance(self.destination, AsynchronousJobs):
            raise TypeError(f"{self.destination.name} takes batches, not jobs")
        return self.destination

    def collect_jobs(self) -> None:
        while self.jobs:
            job_id, kind, records = self.jobs.pop(0)
            outcomes = self.jobs_destination().collect(self.ctx, job_id, records)
            self.record_job(kind, records, outcomes)
            self.state.finish_job(job_id)

    def record_job(self, kind: str, records: list[dict], outcomes: list[Outcome]) -> None:
        """A job's outcomes: profiles into the state; clears mark the state; list additions
        into the memberships."""
        if kind == "profiles":
            self.record_upserts(records, outcomes)
            return
        if kind == "clear":
            self.record_clears(outcomes)
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
        self.state.write_log(self.entry)  # per batch: a killed run shows what it had done
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
        self.state.record_deletes(rows, outcomes)
        self.entry["deleted"] += sum(o.ok is True for o in outcomes)
        self.note_failures(outcomes)
        self.state.write_log(self.entry)

    def clears(self, rows: list[dict]) -> None:
        """People who may not be marketed to: a destination that keeps their record has
        nextsale's fields emptied; one whose records are nextsale's own deletes it."""
        if not rows:
            return
        if self.destination.do_not_contact == "delete":
            dnc = [r for r in rows if r["reason"] == "do not contact"]
            self.deletes(dnc)
            rows = [r for r in rows if r["reason"] != "do not contact"]
        if isinstance(self.destination, AsynchronousJobs):
            columns = [c for c in self.ctx.columns if c.startswith("nextsale_")]
            for job in self.destination.clear_jobs(rows, columns):
                self.submit_job(job, "clear", None)
            self.record_clears(
                [Outcome(r["record_key"], True) for r in rows if r["reason"] != "do not contact"]
            )
            return
        self.record_clears(self.destination.clear(self.ctx, rows))

    def record_clears(self, outcomes: list[Outcome]) -> None:
        self.state.record_clears(outcomes)
        self.entry["cleared"] += sum(o.ok is True for o in outcomes)
        self.note_failures(outcomes)
        self.state.write_log(self.entry)

    def remove_memberships(self, removals) -> None:
        destination = self.destination
        if not isinstance(destination, ListMemberships):
            return  # no lists, so no memberships recorded
        for list_name, members in removals.groupby("list_name", sort=True):
            removed = destination.remove_members(self.ctx, list_name, members.to_dict("records"))
            self.state.record_memberships(list_name, [], removed)

    def memberships(self) -> None:
        destination = self.destination
        if not isinstance(destination, ListMemberships):
            return
        additions, removals = self.state.membership_changes(
            destination.wanted_memberships, not self.ctx.client.dry_run
        )
        self.remove_memberships(removals)
        for list_name, members in additions.groupby("list_name", sort=True):
            list_id = destination.ensure_list(self.ctx, list_name)
            self.submit(members.to_dict("records"), f"members:{list_name}", list_id)
