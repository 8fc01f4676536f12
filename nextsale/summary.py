"""What is in the warehouse: rows per layer and what was quarantined, read-only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from nextsale.contracts import CONTRACTS
from nextsale.ingest import quarantine_reasons
from nextsale.sync.state import last_runs

# Warehouse schemas in pipeline order, as the summary shows them.
LAYERS = (
    "raw",
    "raw_quarantine",
    "reference",
    "staging",
    "intermediate",
    "marts",
    "ml",
    "scores",
    "activation",
)


@dataclass(frozen=True)
class TableCount:
    schema: str
    table: str
    rows: int


@dataclass(frozen=True)
class WarehouseSummary:
    tables: list[TableCount]
    quarantine_reasons: list[tuple[str, str, int]]  # table, reason, rows
    rejected_files: list[tuple[str, str]]  # file, error
    # the latest sync per destination: destination, status, finished_at, sent, failed, deleted
    last_syncs: Sequence[tuple] = ()
    # sources without rows: the landing folder and what stays empty or null without it
    empty_sources: Sequence[tuple[str, str]] = ()
    # activation.audience_status: audience, members, holdout, sendable, why one of them is zero
    audiences: Sequence[tuple] = ()


def read_summary(duckdb_path: Path) -> WarehouseSummary:
    if not duckdb_path.exists():
        raise FileNotFoundError(
            f"No warehouse at {duckdb_path}: run `make demo` (or materialise the assets) first."
        )
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        names = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ({}) and table_name not like '\\_%' escape '\\' "
            "order by table_schema, table_name".format(", ".join(f"'{s}'" for s in LAYERS))
        ).fetchall()
        tables = [
            TableCount(s, t, con.execute(f'select count(*) from "{s}"."{t}"').fetchall()[0][0])
            for s, t in names
        ]
        reasons = [
            (t.table, reason, n)
            for t in tables
            if t.schema == "raw_quarantine" and t.rows
            for reason, n in quarantine_reasons(con, t.table).most_common()
        ]
        present = set(
            con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        )
        rejected = (
            con.execute(
                "select source_file, error from raw._file_loads where status = 'rejected'"
            ).fetchall()
            if ("raw", "_file_loads") in present
            else []
        )
        last_syncs = (
            list(
                last_runs(con)[
                    ["destination", "status", "finished_at", "sent", "failed", "deleted"]
                ].itertuples(index=False, name=None)
            )
            if ("sync", "log") in present
            else []
        )
        audiences = (
            con.execute(
                "select audience, members, holdout, sendable, status_reason "
                "from activation.audience_status order by audience"
            ).fetchall()
            if ("activation", "audience_status") in present
            else []
        )
    rows = {(t.schema, t.table): t.rows for t in tables}
    empty = [
        (c.folder, c.feeds)
        for c in CONTRACTS
        if ("raw", c.table) in rows and not rows[("raw", c.table)]
    ]
    tables.sort(key=lambda t: (LAYERS.index(t.schema), t.table))
    return WarehouseSummary(tables, reasons, rejected, last_syncs, empty, audiences)


def format_summary(summary: WarehouseSummary) -> str:
    lines = ["Rows per layer:"]
    current = None
    for t in summary.tables:
        if t.schema != current:
            current = t.schema
            lines.append(f"  {current}")
        lines.append(f"    {t.table:<32} {t.rows:>12,}")
    lines.append("Quarantined rows and why:")
    if not summary.quarantine_reasons:
        lines.append("  none")
    for table, reason, n in summary.quarantine_reasons:
        lines.append(f"  {table:<24} {reason:<40} {n:>8,}")
    if summary.rejected_files:
        lines.append("Files rejected whole:")
        lines += [f"  {error}" for _, error in summary.rejected_files]
    if summary.empty_sources:
        lines.append("Sources without rows (optional; what stays empty or null without them):")
        lines += [f"  {folder:<24} {feeds}" for folder, feeds in summary.empty_sources]
    if summary.audiences:
        lines.append("Audiences (activation.audience_status):")
        lines.append(f"  {'audience':<28} {'members':>8} {'holdout':>8} {'sendable':>8}")
        for audience, members, holdout, sendable, reason in summary.audiences:
            lines.append(f"  {audience:<28} {members:>8,} {holdout:>8,} {sendable:>8,}")
            if reason:
                lines.append(f"    {reason}")
    if summary.last_syncs:
        lines.append("Last sync per destination (sync.log; failures in sync.failures):")
        lines += [
            f"  {name:<12} {status:<8} {finished:%Y-%m-%d %H:%M} UTC  sent {sent:,}, "
            f"failed {failed:,}, deleted {deleted:,}"
            for name, status, finished, sent, failed, deleted in summary.last_syncs
        ]
    return "\n".join(lines)
