"""The warehouse the Python steps read from and write to: the same one dbt builds in.

Two implementations of one small interface, picked by `NEXTSALE_DBT_TARGET`:
the embedded DuckDB file (the default) and PostgreSQL (`postgres`), read and written through
ADBC, which moves Arrow batches over Postgres' binary COPY instead of row-by-row inserts.
Landing files are always validated in DuckDB (`nextsale.ingest`); on a server target the
validated raw tables are then published to it (`publish_raw`), so dbt reads the same rows.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import duckdb
import pandas as pd
import pyarrow as pa

from nextsale.contracts import QUARANTINE, RAW

TARGETS = ("duckdb", "postgres")

MEMORY_LIMIT_VARIABLE = "NEXTSALE_DUCKDB_MEMORY_LIMIT"


# At 1M generated customers the warehouse build needs about 6 GiB to spill rather than fail
# (under 5.6 GiB it ran out in int_identity__lines_by_cutoff, make bench 2026-12-02); more
# only grows DuckDB's cache while the Python stages need the rest of the machine.
DEFAULT_MEMORY_LIMIT_MIB = 6 * 1024


def duckdb_memory_limit() -> str:
    """DuckDB's memory cap for every stage (ingestion, dbt, the Python steps):
    NEXTSALE_DUCKDB_MEMORY_LIMIT (any DuckDB size, e.g. `6GB`), else 6 GiB or half the RAM,
    whichever is less; past it DuckDB spills to disk. DuckDB's own default, 80 % of RAM, left
    the Python stages too little (19.7 GiB peak on a 24 GiB machine)."""
    configured = os.environ.get(MEMORY_LIMIT_VARIABLE, "").strip()
    if configured:
        return configured
    ram_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return f"{min(DEFAULT_MEMORY_LIMIT_MIB, ram_mib // 2)}MiB"


def connect_duckdb(path: Path | str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the DuckDB file under the stages' memory cap (a setting of the open
    database, so other connections to it in this process share it)."""
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute(f"set memory_limit = '{duckdb_memory_limit()}'")
    return con


class Warehouse(Protocol):
    @property
    def target(self) -> str:
        """The dbt output it is (dbt_project/profiles.yml)."""

    def query(self, sql: str, **frames: pd.DataFrame) -> pd.DataFrame:
        """Run a read-only query; each keyword frame can be selected from by its name."""

    def replace_table(self, schema: str, name: str, frame: pd.DataFrame) -> int:
        """Replace schema.name with the frame in one transaction; returns the rows written."""

    def sample(self, column: str, fraction: float) -> str:
        """A predicate keeping a stable `fraction` of the values of a text column: the same
        values on every run and every warehouse (dbt's hash_bucket: md5's first 31 bits)."""


@dataclass(frozen=True)
class DuckDBWarehouse:
    path: Path
    target: str = "duckdb"

    def query(self, sql: str, **frames: pd.DataFrame) -> pd.DataFrame:
        with connect_duckdb(self.path, read_only=True) as con:
            for name, frame in frames.items():
                con.register(name, frame)
            return con.execute(sql).df()

    def replace_table(self, schema: str, name: str, frame: pd.DataFrame) -> int:
        with connect_duckdb(self.path) as con:
            con.execute(f"create schema if not exists {schema}")
            con.register("frame", frame)
            con.execute(f"create or replace table {schema}.{name} as select * from frame")
            return con.execute(f"select count(*) from {schema}.{name}").fetchall()[0][0]

    def sample(self, column: str, fraction: float) -> str:
        bits = f"(('0x' || substr(md5({column}), 1, 8))::bigint & 2147483647)"
        return f"{bits} < {int(fraction * 2**31)}"


@dataclass(frozen=True)
class PostgresWarehouse:
    host: str
    port: int
    user: str
    database: str
    password: str = field(default="", repr=False)  # never printed, never logged
    target: str = "postgres"

    @classmethod
    def from_env(cls) -> PostgresWarehouse:
        """The connection dbt's `postgres` output uses (dbt_project/profiles.yml)."""
        return cls(
            host=os.environ.get("NEXTSALE_POSTGRES_HOST") or "127.0.0.1",
            port=int(os.environ.get("NEXTSALE_POSTGRES_PORT") or 5432),
            user=os.environ.get("NEXTSALE_POSTGRES_USER") or "nextsale",
            database=os.environ.get("NEXTSALE_POSTGRES_DATABASE") or "nextsale",
            password=os.environ.get("NEXTSALE_POSTGRES_PASSWORD") or "",
        )

    @contextmanager
    def _connect(self) -> Iterator:
        from adbc_driver_postgresql import dbapi

        auth = quote(self.user, safe="") + (
            f":{quote(self.password, safe='')}" if self.password else ""
        )
        uri = f"postgresql://{auth}@{self.host}:{self.port}/{quote(self.database, safe='')}"
        with dbapi.connect(uri) as con:
            yield con

    def query(self, sql: str, **frames: pd.DataFrame) -> pd.DataFrame:
        with self._connect() as con, con.cursor() as cursor:
            for name, frame in frames.items():
                cursor.adbc_ingest(name, _arrow(frame), mode="create", temporary=True)
            cursor.execute(sql)
            table = cursor.fetch_arrow_table()
        return _numeric_as_float(table).to_pandas()

    def replace_table(self, schema: str, name: str, frame: pd.DataFrame) -> int:
        return self.replace_arrow(schema, name, _arrow(frame))

    def sample(self, column: str, fraction: float) -> str:
        bits = f"(('x' || substr(md5({column}), 1, 8))::bit(32)::bigint & 2147483647)"
        return f"{bits} < {int(fraction * 2**31)}"

    def replace_arrow(self, schema: str, name: str, table: pa.Table) -> int:
        with self._connect() as con, con.cursor() as cursor:
            cursor.execute(f"create schema if not exists {schema}")
            cursor.execute(f"drop table if exists {schema}.{name} cascade")
            cursor.adbc_ingest(name, table, mode="create", db_schema_name=schema)
            con.commit()
        return table.num_rows


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def _numeric_as_float(table: pa.Table) -> pa.Table:
    """Postgres `numeric` (sums of money, rounding) arrives as its decimal text; the models and
    the comparisons want floats, as DuckDB's sums of doubles give."""
    for index, column in enumerate(table.schema):
        if (column.metadata or {}).get(b"ADBC:postgresql:typname") == b"numeric":
            text = table.column(index).cast(pa.string())
            table = table.set_column(index, column.name, text.cast(pa.float64()))
    return table


def has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether the DuckDB file has schema.table (a warehouse made before it existed has not)."""
    return bool(
        con.execute(
            "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
    )


def in_use_message(error: Exception, duckdb_path: Path) -> str | None:
    """A plain account of a DuckDB file another process holds (DuckDB has one writer), naming
    the holder; None for any other error."""
    found = re.search(r"Conflicting lock is held in (.*?) \(PID (\d+)\)", str(error))
    if not isinstance(error, duckdb.IOException) or not found:
        return None
    program, pid = found.groups()
    with contextlib.suppress(OSError):  # its command line says more than its interpreter's path
        program = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:160]
    return (
        f"The warehouse {duckdb_path} is in use by process {pid} ({program}). DuckDB lets one "
        "process write at a time: wait for that run to finish (or stop it, for example the "
        "Dagster UI's running materialisation), then run this again."
    )


def check_not_in_use(duckdb_path: Path) -> str | None:
    """None when the DuckDB file can be opened for writing now, else why not, in words."""
    if not Path(duckdb_path).exists():
        return None
    try:
        duckdb.connect(str(duckdb_path)).close()
    except duckdb.Error as error:
        return in_use_message(error, duckdb_path) or str(error)
    return None


def warehouse_for(target: str, duckdb_path: Path) -> Warehouse:
    if target == "duckdb":
        return DuckDBWarehouse(Path(duckdb_path))
    if target == "postgres":
        return PostgresWarehouse.from_env()
    raise ValueError(f"NEXTSALE_DBT_TARGET={target!r}: expected one of {', '.join(TARGETS)}")


def as_warehouse(warehouse: Warehouse | Path | str) -> Warehouse:
    """A Warehouse as given, or the DuckDB file at a path (what tests and scripts pass)."""
    if isinstance(warehouse, str | Path):
        return DuckDBWarehouse(Path(warehouse))
    return warehouse


def publish_raw(
    duckdb_path: Path, warehouse: Warehouse, tables: list[str] | None = None
) -> dict[str, int]:
    """Copy validated raw tables (kept rows and quarantine; all of them unless `tables` names
    some) from the DuckDB file ingestion wrote to a server warehouse.

    The DuckDB file stays the record of what was loaded from which file; the server gets a full
    copy each time, so it always matches it exactly. Returns rows per table."""
    if not isinstance(warehouse, PostgresWarehouse):
        return {}  # the DuckDB file ingestion wrote is the warehouse
    copied = {}
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        found = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in (?, ?) and table_name not like '\\_%' escape '\\' order by all",
            [RAW, QUARANTINE],
        ).fetchall()
        for schema, name in found:
            if tables is not None and name not in tables:
                continue
            arrow = con.execute(f'select * from {schema}."{name}"').to_arrow_table()
            copied[f"{schema}.{name}"] = warehouse.replace_arrow(schema, name, arrow)
    return copied


def pull_schema(warehouse: Warehouse, duckdb_path: Path, schema: str) -> dict[str, int]:
    """Copy every table of a schema from a server warehouse into the DuckDB file: the sync
    engine diffs and keeps its state there, whatever the dbt target. Returns rows per table."""
    if isinstance(warehouse, DuckDBWarehouse):
        return {}
    names = warehouse.query(
        "select table_name from information_schema.tables "
        f"where table_schema = '{schema}' and table_type = 'BASE TABLE' order by 1"
    )["table_name"]
    copied = {}
    with duckdb.connect(str(duckdb_path)) as con:
        con.execute(f"create schema if not exists {schema}")
        for name in names:
            frame = warehouse.query(f'select * from {schema}."{name}"')
            con.register("frame", frame)
            con.execute(f'create or replace table {schema}."{name}" as select * from frame')
            con.unregister("frame")
            copied[f"{schema}.{name}"] = len(frame)
    return copied
