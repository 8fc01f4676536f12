"""Configuration from environment variables (DESIGN §8), with defaults that make `make demo` work.

A `.env` in the working directory is read first; variables already set win over it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

from nextsale.warehouse import Warehouse, warehouse_for

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
CURRENCY_RATES_SEED = DBT_PROJECT_DIR / "seeds" / "currency_rates.csv"
REPORTING_CURRENCY = "USD"


@dataclass(frozen=True)
class Settings:
    landing_dir: Path
    duckdb_path: Path
    artifacts_dir: Path
    dbt_target: str

    @classmethod
    def from_env(cls) -> Settings:
        load_dotenv(override=False)

        def path(name: str, default: str) -> Path:
            return Path(os.environ.get(name) or default).expanduser().resolve()

        return cls(
            landing_dir=path("NEXTSALE_LANDING_DIR", "data/landing"),
            duckdb_path=path("NEXTSALE_DUCKDB_PATH", "data/warehouse.duckdb"),
            artifacts_dir=path("NEXTSALE_ARTIFACTS_DIR", "data/artifacts"),
            dbt_target=os.environ.get("NEXTSALE_DBT_TARGET") or "duckdb",
        )

    def warehouse(self) -> Warehouse:
        """The tables dbt builds, for the Python steps to read and write."""
        return warehouse_for(self.dbt_target, self.duckdb_path)

    def export_for_dbt(self) -> None:
        """dbt reads the database path from the environment (profiles.yml); make it absolute."""
        os.environ["NEXTSALE_DUCKDB_PATH"] = str(self.duckdb_path)
        os.environ["NEXTSALE_DBT_TARGET"] = self.dbt_target
        self.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
