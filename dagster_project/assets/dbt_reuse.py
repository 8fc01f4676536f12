"""A dbt step whose inputs are what its last build read reuses that build instead of running
dbt again (a second `make demo` on unchanged data, a re-run the same day).

What the step's tables are made of is fingerprinted: the dbt project's files, dbt's version, the
target and the day (marts are computed as of today unless `as_of_date` says otherwise), the
selection, and the content of every table the selection reads but does not build (the raw
loads, the scores, or the models of the other dbt step). When the fingerprint equals the one
every selected asset's latest materialisation carries, and every table the step builds still
exists, the step reports those materialisations and their tests' outcomes again, each marked as
reused, and runs nothing. Anything else, or `reuse_unchanged: false`, runs dbt.

Consent holds: the activation tables are a function of these inputs, so equal inputs give the
tables already there, and a consent change is a change to `raw.crm_contacts`.
"""

from __future__ import annotations

import datetime as dt
import graphlib
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import dagster as dg

from nextsale.warehouse import DuckDBWarehouse, Warehouse

INPUTS_KEY = "nextsale/inputs_sha256"
REUSED_KEY = "nextsale/reused_from_run"
# what dbt reads of its own project; target/, logs/ and dbt_packages/ are its output
PROJECT_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".md"}
PROJECT_OUTPUT_FOLDERS = {"target", "logs", "dbt_packages"}


def project_sha256(project_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(project_dir.rglob("*")):
        relative = path.relative_to(project_dir)
        if (
            path.is_file()
            and path.suffix in PROJECT_SUFFIXES
            and relative.parts[0] not in PROJECT_OUTPUT_FOLDERS
        ):
            digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def relation(node: Mapping[str, Any]) -> str:
    name = node.get("identifier") or node.get("alias") or node["name"]
    return f'"{node["schema"]}"."{name}"'


def read_relations(manifest: Mapping[str, Any], selected: set[str]) -> dict[str, Mapping[str, Any]]:
    """Every source, model or seed the selected nodes read that the selection does not build
    (through an ephemeral model, which is inlined, what it reads)."""
    resources = {**manifest["nodes"], **manifest["sources"]}

    def parents(uid: str) -> list[str]:
        return resources.get(uid, {}).get("depends_on", {}).get("nodes", [])

    read, seen, todo = set(), set(), [p for uid in selected for p in parents(uid)]
    while todo:
        uid = todo.pop()
        if uid in seen or uid in selected or uid.split(".")[0] not in ("source", "model", "seed"):
            continue
        seen.add(uid)
        if resources.get(uid, {}).get("config", {}).get("materialized") == "ephemeral":
            todo += parents(uid)
        elif uid in resources:
            read.add(uid)
    return {uid: resources[uid] for uid in sorted(read)}


def content_sha256(warehouse: Warehouse, relations: Iterable[Mapping[str, Any]]) -> dict:
    """Rows and an order-free hash of every row of each relation, in one query."""
    relations = list(relations)
    if not relations:
        return {}
    sql = " union all ".join(
        f"select '{relation(r)}' as relation, count(*) as row_count, "
        f"coalesce(sum(hash(t)), 0)::varchar as row_hash from {relation(r)} t"
        for r in relations
    )
    frame = warehouse.query(sql)
    return {r.relation: [int(r.row_count), r.row_hash] for r in frame.itertuples(index=False)}


def built_relations_exist(warehouse: Warehouse, nodes: Iterable[Mapping[str, Any]]) -> bool:
    wanted = {(n["schema"], n.get("alias") or n["name"]) for n in nodes}
    found = warehouse.query(
        "select table_schema, table_name from information_schema.tables"
    ).itertuples(index=False)
    return wanted <= {tuple(r) for r in found}


def inputs_sha256(
    warehouse: Warehouse,
    manifest: Mapping[str, Any],
    selected: set[str],
    project_dir: Path,
    build_args: list[str],
    target: str,
) -> str:
    state = {
        "project": project_sha256(project_dir),
        "dbt": [metadata.version("dbt-core"), metadata.version("dbt-duckdb")],
        "args": build_args,
        "target": target,
        "day": dt.datetime.now(dt.UTC).date().isoformat(),
        "selected": sorted(selected),
        "reads": content_sha256(warehouse, read_relations(manifest, selected).values()),
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def last_build_if_unchanged(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    project_dir: Path,
    build_args: list[str],
    target: str,
) -> tuple[str | None, dict[dg.AssetKey, dg.EventLogEntry] | None]:
    """The fingerprint of this step's inputs (None where it is not taken), and the latest
    materialisation of each selected asset when all were built from exactly these inputs and
    their tables still exist (else None)."""
    if not can_reuse(warehouse):
        return None, None
    specs = context.assets_def.specs_by_key
    selected = {specs[k].metadata["dagster_dbt/unique_id"] for k in context.selected_asset_keys}
    manifest = (
        specs[next(iter(context.selected_asset_keys))].metadata["dagster_dbt/manifest"].manifest
    )
    fingerprint = inputs_sha256(warehouse, manifest, selected, project_dir, build_args, target)
    latest = last_build(context, fingerprint)
    if latest and built_relations_exist(warehouse, [manifest["nodes"][u] for u in selected]):
        return fingerprint, latest
    return fingerprint, None


def last_build(
    context: dg.AssetExecutionContext, fingerprint: str
) -> dict[dg.AssetKey, dg.EventLogEntry] | None:
    """The latest materialisation of each selected asset, when every one was built from these
    inputs; else None."""
    keys = list(context.selected_asset_keys)
    latest = context.instance.get_latest_materialization_events(keys)
    if not keys or any(
        entry is None
        or (entry.asset_materialization.metadata.get(INPUTS_KEY) or dg.TextMetadataValue("")).value
        != fingerprint
        for entry in latest.values()
    ):
        return None
    return dict(latest)


def can_reuse(warehouse: Warehouse) -> bool:
    # Fingerprinting reads every input in full: cheap in an embedded DuckDB file, a scan of
    # the warehouse on a server, where dbt's own incremental models are the better tool.
    return isinstance(warehouse, DuckDBWarehouse)


def reused_events(
    context: dg.AssetExecutionContext,
    latest: Mapping[dg.AssetKey, dg.EventLogEntry],
    fingerprint: str,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """The last build's materialisations and test outcomes, again, marked as reused (in the
    order of their dependencies, as Dagster requires of a multi-asset)."""
    deps = context.assets_def.asset_deps
    order = graphlib.TopologicalSorter({k: deps.get(k, set()) & latest.keys() for k in latest})
    for key in order.static_order():
        entry = latest[key]
        run = entry.run_id
        yield dg.Output(
            None,
            output_name=context.assets_def.get_output_name_for_asset_key(key),
            metadata={
                **(entry.asset_materialization.metadata if entry.asset_materialization else {}),
                INPUTS_KEY: fingerprint,
                REUSED_KEY: dg.MetadataValue.dagster_run(run),
            },
        )
    storage = context.instance.event_log_storage
    for key in context.selected_asset_check_keys:
        built = latest.get(key.asset_key)
        # the latest outcome (this run's own evaluation is only planned yet), if the build it
        # checked is the one reported again
        outcomes = [
            record.event
            for record in storage.get_asset_check_execution_history(key, limit=2)
            if record.event is not None
            and isinstance(record.event.dagster_event.event_specific_data, dg.AssetCheckEvaluation)
        ]
        if built is None or not outcomes or outcomes[0].run_id != built.run_id:
            continue
        evaluation = outcomes[0].dagster_event.event_specific_data
        yield dg.AssetCheckResult(
            asset_key=key.asset_key,
            check_name=key.name,
            passed=evaluation.passed,
            severity=evaluation.severity,
            description=evaluation.description,
            metadata={
                **evaluation.metadata,
                REUSED_KEY: dg.MetadataValue.dagster_run(built.run_id),
            },
        )
