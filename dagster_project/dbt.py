"""The one dbt project object that everything imports."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from nextsale.config import DBT_PROJECT_DIR, Settings

# dagster-dbt runs `dbt` from PATH (to parse and to build). Use the dbt installed beside this
# interpreter, so that `.venv/bin/dagster ...` works without activating the venv.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

_settings = Settings.from_env()
# Parse with the profile the runs use (the absolute warehouse path): dbt keeps its partial-parse
# state only for the profile it was written with, and each run's dbt copies that state.
_settings.export_for_dbt()
dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    target=_settings.dbt_target,
)
# Under `dagster dev` the manifest is rebuilt on start; elsewhere `make manifest` (dbt parse)
# builds it first, and a missing one is built here rather than failing the import.
dbt_project.prepare_if_dev()
if not dbt_project.manifest_path.exists():
    dbt_project.preparer.prepare(dbt_project)
