"""Resources configured from the environment. They hold paths, never open connections:
DuckDB has one writer, so every step opens the file, works and closes it again."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from nextsale.config import Settings
from nextsale.warehouse import Warehouse, warehouse_for


class WarehouseResource(dg.ConfigurableResource):
    """Where landing files are read from, the DuckDB file they are validated into, and the dbt
    target the models are built in (that same file by default, or a server warehouse)."""

    duckdb_path: str
    landing_dir: str
    artifacts_dir: str
    dbt_target: str = "duckdb"

    @classmethod
    def from_settings(cls, settings: Settings) -> WarehouseResource:
        return cls(
            duckdb_path=str(settings.duckdb_path),
            landing_dir=str(settings.landing_dir),
            artifacts_dir=str(settings.artifacts_dir),
            dbt_target=settings.dbt_target,
        )

    def client(self) -> Warehouse:
        """The tables dbt builds, for the Python steps to read and write (nextsale.warehouse)."""
        return warehouse_for(self.dbt_target, self.database)

    @property
    def database(self) -> Path:
        return Path(self.duckdb_path)

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir)

    @property
    def artifacts(self) -> Path:
        return Path(self.artifacts_dir)
