"""The one dbt project object that everything imports, the dbt command that runs it, and how
its manifest is built. Importing this module runs nothing (under `dg dev` excepted, which
rebuilds the manifest on start, as dagster-dbt does): `make manifest` builds it, and so does
`nextsale materialize` where it is missing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from nextsale.config import DBT_PROJECT_DIR, Settings, dbt_vars

# The dbt installed beside this interpreter, so that `.venv/bin/dg ...` works without
# activating the venv (dagster-dbt's default is `dbt` from PATH).
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_cli(settings: Settings) -> DbtCliResource:
    """The dbt command for the target `settings` name; the warehouse's path and memory cap go
    to dbt as vars with each command (nextsale.config.dbt_vars), never through os.environ."""
    return DbtCliResource(
        project_dir=dbt_project, target=settings.dbt_target, dbt_executable=DBT_EXECUTABLE
    )


def prepare_manifest(only_if_missing: bool = False) -> Path:
    """Build dbt's manifest (dagster-dbt reads it when the definitions are imported): `dbt
    parse` with the target and vars the runs use, read from the environment now. dbt keeps its
    partial-parse state only for the profile and vars it was written with, and each run's dbt
    starts from that state. (dagster-dbt's own preparer runs `dbt` from PATH without vars.)"""
    if not (only_if_missing and dbt_project.manifest_path.exists()):
        settings = Settings.from_env()
        parse = ["parse", "--quiet", "--vars", json.dumps(dbt_vars(settings.duckdb_path))]
        dbt_cli(settings).cli(parse, target_path=dbt_project.target_path).wait()
    return dbt_project.manifest_path


# `dg dev` rebuilds the manifest on start, as DbtProject.prepare_if_dev does.
if dbt_project.preparer.using_dagster_dev():
    prepare_manifest()


def require_manifest() -> Path:
    """The manifest, or a plain message saying how to build it."""
    if not dbt_project.manifest_path.exists():
        raise FileNotFoundError(
            f"dbt's manifest is not built yet ({dbt_project.manifest_path}): run `make manifest`"
            " (or `nextsale materialize`, which builds it) and load the definitions again"
        )
    return dbt_project.manifest_path


if __name__ == "__main__":  # make manifest
    prepare_manifest()
