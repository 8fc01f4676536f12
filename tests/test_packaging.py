"""The wheel a user installs: the product with the dbt project it runs, nothing built."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from nextsale.config import DBT_PROJECT_DIR, REPO_ROOT


def test_the_wheel_holds_the_product_and_its_dbt_project_and_nothing_built(tmp_path):
    uv = Path(sys.executable).parent / "uv"
    built_before = (REPO_ROOT / "build").exists()
    try:
        subprocess.run(
            [str(uv), "build", "--wheel", "--quiet", "--out-dir", str(tmp_path), str(REPO_ROOT)],
            check=True,
            timeout=600,
        )
    finally:
        if not built_before:  # setuptools' work folder, made in the source tree
            shutil.rmtree(REPO_ROOT / "build", ignore_errors=True)
    (wheel,) = tmp_path.glob("nextsale-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {
        f"dbt_project/{p.relative_to(DBT_PROJECT_DIR).as_posix()}"
        for p in DBT_PROJECT_DIR.rglob("*")
        if p.suffix in (".sql", ".yml", ".csv")
        and p.relative_to(DBT_PROJECT_DIR).parts[0] not in ("target", "logs", "dbt_packages")
    }
    assert sources and sources <= names  # every model, macro, test, seed and YAML
    assert {"nextsale/cli.py", "nextsale/templates/report.html", "dagster_project/dagster.yaml",
            "dagster_project/definitions.py", "ml/train.py"} <= names  # fmt: skip
    assert not [n for n in names if n.startswith(("dbt_project/target/", "dbt_project/logs/"))]
    # the local vendor servers and their specs are the tests' own
    assert not [n for n in names if n.startswith("tests/") or "vendors" in n]
