"""Where the people in the warehouse came from: generated sample people must never reach a real
account, whatever the entry point (`make demo`, "Materialize all", the schedule, `nextsale sync`).

The generator leaves a marker file in the landing folder; every ingestion carries it into the
warehouse (`raw._provenance`), and the sync engine refuses to send people from generated data
to any host but this machine's (the local vendor servers of the tests).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from nextsale.warehouse import has_table

MARKER = ".nextsale-generated"
TABLE = "raw._provenance"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def mark_generated(landing_dir: Path, **details) -> Path:
    """Mark a landing folder as holding generated people."""
    path = Path(landing_dir) / MARKER
    path.write_text(json.dumps(details, default=str, indent=2) + "\n")
    return path


def record(con: duckdb.DuckDBPyConnection, landing_dir: Path) -> None:
    """Carry the landing folder's marker (or its absence) into the warehouse."""
    marker = Path(landing_dir) / MARKER
    con.execute(
        f"create or replace table {TABLE} as select ? as landing_dir, ? as generated, "
        "? as marker, current_timestamp as recorded_at",
        [str(landing_dir), marker.is_file(), marker.read_text() if marker.is_file() else None],
    )


def generated_landing(con: duckdb.DuckDBPyConnection) -> str | None:
    """The landing folder the warehouse's people were generated into, or None for real data."""
    if not has_table(con, *TABLE.split(".")):
        return None
    row = con.execute(f"select landing_dir from {TABLE} where generated").fetchone()
    return row[0] if row else None


def is_local(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOCAL_HOSTS
