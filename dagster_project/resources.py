"""Resources configured from the environment. They hold paths, never open connections:
DuckDB has one writer, so every step opens the file, works and closes it again."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


class Warehouse(dg.ConfigurableResource):
    """Where landing files are read from and the embedded DuckDB warehouse lives."""

    duckdb_path: str
    landing_dir: str
    artifacts_dir: str

    @property
    def database(self) -> Path:
        return Path(self.duckdb_path)

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir)

    @property
    def artifacts(self) -> Path:
        return Path(self.artifacts_dir)
