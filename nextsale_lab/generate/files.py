"""A landing file of the sample data: the contract it feeds (whose folder it lands in), the SQL
that shapes its rows from the simulation's frames, and its format."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from nextsale.contracts import CONTRACTS_BY_TABLE


@dataclass(frozen=True)
class SourceFile:
    table: str  # the raw contract it feeds (nextsale.contracts.CONTRACTS)
    sql: str  # over the frames registered for a chunk (people, orders, lines, sessions...)
    fmt: str = "csv"  # or "json": JSON lines, as web exports come
    # the name of a table's one file, written once (a catalogue); None: a part file per chunk
    once: str | None = None

    def path(self, out_dir: Path, part: str) -> Path:
        name = self.once or f"{part}.{'jsonl' if self.fmt == 'json' else 'csv'}"
        return out_dir / self.folder / name

    @property
    def folder(self) -> str:
        return CONTRACTS_BY_TABLE[self.table].folder


def write(con: duckdb.DuckDBPyConnection, file: SourceFile, path: Path) -> int:
    """Copy the file's rows to `path`; returns how many were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options = "FORMAT CSV, HEADER" if file.fmt == "csv" else "FORMAT JSON"
    con.execute(f"copy ({file.sql}) to '{path}' ({options})")
    return con.execute(f"select count(*) from ({file.sql})").fetchall()[0][0]
