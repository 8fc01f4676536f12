"""Reading a warehouse file and running dbt against it, as the tests do."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd


def query_df(path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).df()


def dbt_build(duckdb_path, select: str, variables: dict, *flags: str) -> None:
    """`dbt build --select select` on the DuckDB file at `duckdb_path` (unit tests left out)."""
    from dagster_project.dbt import dbt_project

    done = subprocess.run(
        [
            str(os.path.join(os.path.dirname(sys.executable), "dbt")),
            "build",
            "--select",
            select,
            "--exclude-resource-type",
            "unit_test",
            "--vars",
            json.dumps(variables),
            "--profiles-dir",
            str(dbt_project.profiles_dir),
            *flags,
        ],
        cwd=dbt_project.project_dir,
        env={**os.environ, "NEXTSALE_DUCKDB_PATH": str(duckdb_path)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-4000:]


def rows(database: Path, sql: str) -> list[tuple]:
    """Every row of a query on a warehouse file, read-only."""
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql).fetchall()


def hash_bucket(text: str, buckets: int) -> int:
    """dbt's hash_bucket macro, in Python: the first 32 bits of the md5, top bit cleared."""
    return (int(hashlib.md5(text.encode()).hexdigest()[:8], 16) & 0x7FFFFFFF) % buckets
