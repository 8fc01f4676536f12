"""The wheel a user installs: the product with the dbt project it runs, nothing built."""

from __future__ import annotations

import ast
import graphlib
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
    assert {
        "nextsale/cli.py",
        "nextsale/templates/report.html",
        "dagster_project/dagster.yaml",
        "dagster_project/definitions.py",
        "ml/train.py",
    } <= names
    assert not [n for n in names if n.startswith(("dbt_project/target/", "dbt_project/logs/"))]
    # the local vendor servers and their specs are the tests' own
    assert not [n for n in names if n.startswith("tests/") or "vendors" in n]


def imports_between(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Each module of `packages` and the modules of theirs it imports, deferred imports too."""
    modules = {
        ".".join(f.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): f
        for package in packages
        for f in (root / package).rglob("*.py")
    }
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                # a module importing its own package's __init__ is how packages work
                if target and target != name and not name.startswith(f"{target}."):
                    graph[name].add(target)
    return graph


def test_the_product_modules_import_one_another_without_a_circle():
    graph = imports_between(REPO_ROOT, ("nextsale", "ml", "dagster_project", "nextsale_lab"))
    assert len(graph) > 40
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        raise AssertionError(f"an import circle: {' -> '.join(error.args[1])}") from None
