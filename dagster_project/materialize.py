"""Materialise assets from a terminal with a readable account of the run (`nextsale
materialize`, `make demo`): each stage as it ends, with its rows and time (dbt's count of
models as it goes), and at the end what was held back and why, in words, never a traceback.
Every log line of the run is kept in the warehouse's own Dagster home, for `make ui`."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
from dagster import EventLogEntry

from dagster_project.assets.dbt import DBT_PROGRESS
from dagster_project.assets.dbt_reuse import REUSED_KEY
from nextsale.config import Settings
from nextsale.warehouse import check_not_in_use

DBT_STEPS = {
    "nextsale_dbt_models": "dbt: staging, identity, marts, ML snapshots",
    "nextsale_dbt_activation": "dbt: audiences",
    "nextsale_dbt_destinations": "dbt: destination tables, published",
}
# Dagster's own console log is the UI's business here; the account below replaces it.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass
class RunAccount:
    """What a run did, in words: `problems` stopped something, `warnings` held something back."""

    run_id: str
    success: bool = False
    seconds: float = 0.0
    materialized: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _label(step_key: str) -> str:
    if step_key in DBT_STEPS:
        return DBT_STEPS[step_key]
    layer, _, name = step_key.partition("__")
    return f"{layer}/{name}" if name else step_key


def _elapsed(seconds: float) -> str:
    return f"{int(seconds // 60)}m{seconds % 60:04.1f}s" if seconds >= 60 else f"{seconds:.1f}s"


class Narrator:
    """Turns the run's events, as they are stored, into lines."""

    def __init__(self, echo: Callable[[str], None], dbt_totals: dict[str, int]):
        self.echo, self.dbt_totals = echo, dbt_totals
        self.started: dict[str, float] = {}
        self.metadata: dict[str, list[dict]] = {}
        self.begun = time.monotonic()

    def what(self, step: str) -> str:
        """A step's outcome in a few words, from what it materialised."""
        materialized = self.metadata.get(step, [])
        rows = [int(m.get("dagster/row_count") or 0) for m in materialized]
        if step in DBT_STEPS:
            reused = all(REUSED_KEY in m for m in materialized)
            how = "reused, nothing they read changed" if materialized and reused else "built"
            return f"{len(materialized)} {how}, {sum(rows):,} rows in their tables"
        if not materialized:
            return "checked"
        if len(materialized) > 1:
            return f"{len(materialized)} materialised"
        (m,) = materialized
        if "published" in m:  # a model
            return f"published {m['version']}" if m["published"] else "held back (see below)"
        if "status" in m:  # a sync
            return (
                f"{m['status']}: {m.get('planned_upserts', 0):,} to upsert, "
                f"{m.get('planned_deletes', 0):,} to delete"
            )
        if "rows_quarantined" in m:  # ingestion
            return f"{rows[0]:,} rows ({m['rows_in']:,} in this run, {m['rows_quarantined']:,} quarantined)"
        return f"{rows[0]:,} rows"

    def __call__(self, entry: EventLogEntry, account: RunAccount) -> None:
        event = entry.dagster_event
        if event is None:  # a log line: the dbt step's progress is said, the rest is the UI's
            if entry.user_message.startswith(DBT_PROGRESS):
                self.echo(f"    {entry.user_message.removeprefix(DBT_PROGRESS).strip()}")
            return
        step = event.step_key or ""
        kind = event.event_type_value
        if kind == "STEP_START":
            self.started[step] = entry.timestamp
            if step in DBT_STEPS:
                self.echo(f"  … {_label(step)} ({self.dbt_totals.get(step, 0)} models and seeds)")
        elif kind == "ASSET_MATERIALIZATION":
            account.materialized += 1
            metadata = event.materialization.metadata
            self.metadata.setdefault(step, []).append({k: v.value for k, v in metadata.items()})
        elif kind == "STEP_SUCCESS":
            took = entry.timestamp - self.started.get(step, entry.timestamp)
            self.echo(f"  ✓ {_label(step)}: {self.what(step)} ({_elapsed(took)})")
        elif kind == "STEP_FAILURE":
            error = event.step_failure_data.error
            message = (error.message if error else "failed").strip().splitlines()[0]
            account.problems.append(f"{_label(step)}: {message}")
            self.echo(f"  ✗ {_label(step)}: {message}")
        elif kind == "ASSET_CHECK_EVALUATION":
            check = event.asset_check_evaluation_data
            if check.passed:
                return
            name = f"{check.asset_key.to_user_string()} {check.check_name}"
            failing = check.metadata.get("dagster_dbt/failed_row_count")  # a dbt test's count
            said = check.description or (
                f"{failing.value:,} rows fail it" if failing else "failed (its check in the UI)"
            )
            text = f"{name}: {said}"
            if check.severity == dg.AssetCheckSeverity.WARN or not check.blocking:
                account.warnings.append(text)
            else:
                account.problems.append(text)


def materialize(
    settings: Settings,
    selection: str = "*",
    as_of_date: str = "",
    dry_run_syncs: bool = False,
    echo: Callable[[str], None] = print,
    rebuild: bool = False,
) -> RunAccount:
    """Run the assets `selection` picks (Dagster's selection syntax) in this process, saying
    what happens as it happens; `rebuild` runs dbt even where its inputs are unchanged."""
    warnings.filterwarnings("ignore", category=dg.BetaWarning)  # Dagster's, not the user's
    home = settings.export_dagster_home()
    account = RunAccount(run_id=str(uuid.uuid4()))
    in_use = check_not_in_use(settings.duckdb_path)
    if in_use:
        account.problems.append(in_use)
        return account

    from dagster_project.definitions import build_definitions

    defs = build_definitions(settings, dry_run_syncs=dry_run_syncs)
    graph = defs.resolve_asset_graph()
    try:
        keys = dg.AssetSelection.from_string(selection).resolve(graph)
    except Exception as error:  # noqa: BLE001 - a typo in the selection is said in one line
        account.problems.append(f"the selection {selection!r} is not valid: {error}")
        return account
    dbt_totals = {
        assets_def.node_def.name: len(set(assets_def.keys) & keys)
        for assets_def in graph.assets_defs
        if assets_def.is_executable and assets_def.node_def.name in DBT_STEPS
    }
    run_config: dict = dict(QUIET)
    dbt_config: dict[str, str | bool] = {"as_of_date": as_of_date} if as_of_date else {}
    if rebuild:
        dbt_config["reuse_unchanged"] = False
    if dbt_config:
        run_config["ops"] = {step: {"config": dbt_config} for step, n in dbt_totals.items() if n}
    instance = dg.DagsterInstance.get()
    job = defs.resolve_implicit_global_asset_job_def()
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = job.execute_in_process(
                run_config=run_config,
                instance=instance,
                asset_selection=list(keys),
                raise_on_error=False,
                run_id=account.run_id,
            )
        except Exception as error:  # noqa: BLE001 - said in words below, never a traceback
            outcome["error"] = error

    narrate = Narrator(echo, dbt_totals)
    log_path = home / "logs" / f"{account.run_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    echo(f"Materialising {len(keys)} assets (dbt's own output: {log_path}):")
    with log_path.open("w") as log, contextlib.redirect_stdout(log):
        _follow(instance, account, narrate, run)
    account.seconds = time.monotonic() - narrate.begun
    if "error" in outcome:
        account.problems.append(f"the run could not go on: {outcome['error']}")
    account.success = "result" in outcome and outcome["result"].success and not account.problems
    return account


def _follow(instance, account: RunAccount, narrate: Narrator, run: Callable[[], None]) -> None:
    """Run `run` in a thread and narrate the run's stored events as they arrive."""
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    cursor = None
    while True:
        finished = not worker.is_alive()
        connection = instance.get_records_for_run(account.run_id, cursor=cursor)
        cursor = connection.cursor
        for record in connection.records:
            narrate(record.event_log_entry, account)
        if finished and not connection.has_more:
            break
        if not connection.has_more:
            worker.join(timeout=1.0)


def closing_lines(account: RunAccount) -> list[str]:
    """The last lines of the terminal: what was held back, what failed, and the next step."""
    lines = []
    if account.warnings:
        lines.append("Held back (the run went on without them):")
        lines += [f"  - {w}" for w in account.warnings]
    if account.problems:
        lines.append("What stopped:")
        lines += [f"  - {p}" for p in account.problems]
        lines.append(
            "Next: fix the above and run again; every log line of the run is in the Dagster UI "
            f"(`make ui`, run {account.run_id[:8]})."
        )
    else:
        lines.append(
            f"Done in {_elapsed(account.seconds)}: {account.materialized} assets materialised"
            + (" with warnings above." if account.warnings else ".")
        )
    return lines
