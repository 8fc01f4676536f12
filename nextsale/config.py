"""Configuration from environment variables, with defaults that make `make demo` work.

A `.env` in the working directory is read first; variables already set win over it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

from nextsale.warehouse import Warehouse, duckdb_memory_limit, warehouse_for

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
CURRENCY_RATES_SEED = DBT_PROJECT_DIR / "seeds" / "currency_rates.csv"
REPORTING_CURRENCY = "USD"


DEFAULT_WAREHOUSE = "data/warehouse.duckdb"
INSTANCE_SETTINGS = REPO_ROOT / "dagster_project" / "dagster.yaml"


def beside_warehouse(duckdb_path: Path, name: str) -> Path:
    """A folder of the warehouse's own, so that two warehouses never share published models or
    run history: `<folder>/<name>` beside `warehouse.duckdb` (the demo's `data/artifacts` and
    `data/dagster_home`), `<folder>/<stem>.<name>` beside any other file
    (`data/online-retail.duckdb` -> `data/online-retail.artifacts`)."""
    if duckdb_path.stem == "warehouse":
        return duckdb_path.parent / name
    return duckdb_path.parent / f"{duckdb_path.stem}.{name}"


def dbt_vars(duckdb_path: Path | str) -> dict[str, str]:
    """What dbt reads of this configuration (profiles.yml, macros/duckdb_memory_limit.sql),
    passed as `--vars` by every dbt command nextsale runs, its parse included: dbt keeps its
    partial-parse state only for the vars it was parsed with."""
    return {"duckdb_path": str(duckdb_path), "duckdb_memory_limit": duckdb_memory_limit()}


@dataclass(frozen=True)
class Settings:
    landing_dir: Path
    duckdb_path: Path
    artifacts_dir: Path
    dbt_target: str
    dagster_home: Path | None = None

    @classmethod
    def from_env(cls) -> Settings:
        load_dotenv(override=False)

        def path(name: str, default: str) -> Path:
            return Path(os.environ.get(name) or default).expanduser().resolve()

        duckdb_path = path("NEXTSALE_DUCKDB_PATH", DEFAULT_WAREHOUSE)
        return cls(
            landing_dir=path("NEXTSALE_LANDING_DIR", "data/landing"),
            duckdb_path=duckdb_path,
            artifacts_dir=path(
                "NEXTSALE_ARTIFACTS_DIR", str(beside_warehouse(duckdb_path, "artifacts"))
            ),
            dbt_target=os.environ.get("NEXTSALE_DBT_TARGET") or "duckdb",
            dagster_home=path("DAGSTER_HOME", str(beside_warehouse(duckdb_path, "dagster_home"))),
        )

    def export_dagster_home(self) -> Path:
        """Point Dagster at this warehouse's run history (made, with the instance settings, if
        new); DAGSTER_HOME set by the user wins."""
        home = self.dagster_home or beside_warehouse(self.duckdb_path, "dagster_home")
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "dagster.yaml").exists():
            (home / "dagster.yaml").write_text(INSTANCE_SETTINGS.read_text())
        os.environ["DAGSTER_HOME"] = str(home)
        return home

    def warehouse(self) -> Warehouse:
        """The tables dbt builds, for the Python steps to read and write."""
        return warehouse_for(self.dbt_target, self.duckdb_path)
