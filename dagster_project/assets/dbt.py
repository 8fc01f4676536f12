"""dbt models, seeds and tests as Dagster assets and asset checks."""

import functools
import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
    get_asset_key_for_model,
)

from dagster_project.assets import DAILY_FRESHNESS, dbt_reuse
from dagster_project.dbt import dbt_project, require_manifest
from dagster_project.resources import WarehouseResource
from nextsale.config import dbt_vars

# dbt folder (under models/) -> Dagster asset group, so the UI shows one group per layer.
LAYER_GROUPS = {
    "staging": "staging",
    "intermediate": "intermediate",
    "marketing": "marts",
    "ml": "ml",
    "scores": "ml",  # next_best_offers: dbt's part of scoring
    "activation": "activation",
}


# What people act on is refreshed daily; staging and intermediate models are views or inputs,
# and their freshness shows in what is built from them.
FRESH_DAILY_FOLDERS = {"marketing", "scores", "activation"}


class NextsaleDbtTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        # Sources are Python assets: raw/<table> (ingestion) and scores/<table> (the models).
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["identifier"]])
        alias = dbt_resource_props.get("alias") or dbt_resource_props["name"]
        if dbt_resource_props["resource_type"] == "model" and alias != dbt_resource_props["name"]:
            # an aliased model is keyed by its relation: a published activation table the
            # syncs read (activation/<alias>), an ml snapshot (macros/generate_alias_name.sql)
            return dg.AssetKey([dbt_resource_props["schema"], alias])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        folders = dbt_resource_props["fqn"][1:-1]
        for folder in reversed(folders):
            if folder in LAYER_GROUPS:
                return LAYER_GROUPS[folder]
        return "staging"  # seeds: reference data read by staging

    def get_asset_spec(self, manifest, unique_id, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        folders = manifest["nodes"].get(unique_id, {}).get("fqn", [])[1:-1]
        if FRESH_DAILY_FOLDERS.intersection(folders):
            return spec.replace_attributes(freshness_policy=DAILY_FRESHNESS)
        return spec

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project):
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return spec._replace(description=describe_test(manifest["nodes"][unique_id]))


def describe_test(test: Mapping[str, Any]) -> str:
    """A generic dbt test in words, for its asset check in the UI (singular tests carry their
    own description in YAML)."""
    meta = test.get("test_metadata") or {}
    kwargs = meta.get("kwargs", {})
    column = f"`{kwargs['column_name']}`" if kwargs.get("column_name") else "the row"
    rule = {
        "not_null": f"{column} is never null",
        "unique": f"{column} is unique",
        "accepted_values": f"{column} is one of {', '.join(map(str, kwargs.get('values', [])))}",
        "relationships": f"every {column} is a `{kwargs.get('field')}` of "
        f"{str(kwargs.get('to', '')).removeprefix('ref(').removesuffix(')').strip(chr(39))}",
        "unique_combination": f"({', '.join(kwargs.get('columns', []))}) is unique",
        "at_most": f"{column} is at most {kwargs.get('value')}",
    }.get(meta.get("name", ""), f"dbt test {test['name']} passes")
    if test.get("config", {}).get("severity", "error").lower() == "warn":
        return f"{rule[0].upper()}{rule[1:]} (dbt warns, nothing is held back)."
    return f"{rule[0].upper()}{rule[1:]}; when it fails, dbt skips every model built from this one."


class DbtBuildConfig(dg.Config):
    as_of_date: str = ""
    """Compute marts as of this date (YYYY-MM-DD); empty means today."""
    reuse_unchanged: bool = True
    """Report the last build again, without running dbt, when everything it read is unchanged."""
    refresh_history: bool = True
    """Rebuild the identity history at every past cutoff; false in the daily scoring run, which
    builds only the new cutoffs and the scoring date (dbt_project/macros/history.sql)."""


def dbt_build_args(config: DbtBuildConfig, warehouse: WarehouseResource) -> list[str]:
    """`dbt build` for scheduled runs: unit tests run in `make test`, not against live data.
    The vars carry the warehouse (its path and memory cap) and the run's config."""
    variables: dict = dbt_vars(warehouse.duckdb_path)
    if config.as_of_date:
        variables["as_of_date"] = config.as_of_date
    if not config.refresh_history:
        variables["refresh_history"] = False
    return ["build", "--exclude-resource-type", "unit_test", "--vars", json.dumps(variables)]


# Activation models (and next_best_offers) read the scores, which the models write after the
# warehouse is built, and the destination tables read the reasons explained for the audiences'
# members: three dbt assets, so that the graph runs dbt -> models -> scores -> dbt (offers,
# audiences) -> reasons -> dbt (destination tables) without a cycle.
ACTIVATION = "tag:activation"
DESTINATIONS = "source:scores.offer_reasons+"


def row_count_sql(nodes: Mapping[str, Mapping[str, Any]], unique_ids: list[str]) -> str | None:
    """One query counting the rows of every table among the built nodes (views are left out:
    counting one runs its whole query)."""
    tables = [
        nodes[uid]
        for uid in unique_ids
        if nodes.get(uid, {}).get("config", {}).get("materialized")
        in ("table", "incremental", "seed")
    ]
    if not tables:
        return None
    return " union all ".join(
        f"select '{t['unique_id']}' as unique_id, count(*) as row_count "
        f'from "{t["schema"]}"."{t.get("alias") or t["name"]}"'
        for t in tables
    )


# A log line of the dbt step, as models are built (`nextsale materialize` shows it).
DBT_PROGRESS = "dbt progress:"


def with_row_counts(
    events: Iterator[Any],
    nodes: Mapping[str, Mapping[str, Any]],
    warehouse: WarehouseResource,
    progress: Callable[[int], None] = lambda built: None,
) -> Iterator[Any]:
    """dbt's events, each table's with `dagster/row_count`. DuckDB has one writer and dbt holds
    the file until the build ends (dagster-dbt's fetch_row_counts queries while it runs and
    fails), so the events are held, the rows counted in one query, then the events passed on,
    also when dbt failed part-way; `progress(built)` hears of each model as dbt builds it."""
    held: list[Any] = []
    failure: Exception | None = None
    materialized = 0
    try:
        for event in events:
            held.append(event)
            if isinstance(event, dg.Output | dg.AssetMaterialization):
                materialized += 1
                progress(materialized)
    except Exception as error:  # report what was built, then fail as dbt did
        failure = error
    built = [
        str(e.metadata["unique_id"].value)
        for e in held
        if isinstance(e, dg.Output | dg.AssetMaterialization) and "unique_id" in e.metadata
    ]
    sql = row_count_sql(nodes, built)
    counts = dict(warehouse.client().query(sql).itertuples(index=False)) if sql else {}
    for event in held:
        uid = getattr(event, "metadata", {}).get("unique_id")
        if uid is not None and uid.value in counts:
            event = event.with_metadata(
                {**event.metadata, "dagster/row_count": int(counts[uid.value])}
            )
        yield event
    if failure is not None:
        raise failure


def build_dbt_assets(name: str, select: str = "fqn:*", exclude: str = "") -> dg.AssetsDefinition:
    @dbt_assets(
        name=name,
        manifest=require_manifest(),
        project=dbt_project,
        dagster_dbt_translator=NextsaleDbtTranslator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
        ),
        select=select,
        exclude=exclude,
    )
    def _dbt(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
        config: DbtBuildConfig,
    ) -> Iterator[Any]:
        args = dbt_build_args(config, warehouse)
        warehouse.database.parent.mkdir(parents=True, exist_ok=True)
        total = len(context.selected_asset_keys)
        # fingerprinted on a rebuild too, so that the next run can reuse what it builds
        fingerprint, reused = dbt_reuse.last_build_if_unchanged(
            context, warehouse.client(), dbt_project.project_dir, args, warehouse.dbt_target
        )
        if reused and fingerprint and config.reuse_unchanged:
            run = next(iter(reused.values())).run_id
            context.log.info(
                f"{DBT_PROGRESS} {total} of {total} reused: everything they read is as "
                f"run {run[:8]} left it (config reuse_unchanged: false rebuilds)"
            )
            yield from dbt_reuse.reused_events(context, reused, fingerprint)
            return

        invocation = dbt.cli(args, context=context)
        said = [time.monotonic()]

        def progress(built: int) -> None:
            if time.monotonic() - said[0] > 10 or built == total:
                said[0] = time.monotonic()
                context.log.info(f"{DBT_PROGRESS} {built} of {total} built")

        events = with_row_counts(
            invocation.stream(), invocation.manifest["nodes"], warehouse, progress
        )
        for event in events:
            if fingerprint and isinstance(event, dg.Output | dg.AssetMaterialization):
                event = event.with_metadata({**event.metadata, dbt_reuse.INPUTS_KEY: fingerprint})
            yield event

    return _dbt


nextsale_dbt_models = build_dbt_assets("nextsale_dbt_models", exclude=ACTIVATION)
nextsale_dbt_activation = build_dbt_assets(
    "nextsale_dbt_activation", select=ACTIVATION, exclude=DESTINATIONS
)
nextsale_dbt_destinations = build_dbt_assets("nextsale_dbt_destinations", select=DESTINATIONS)


@functools.cache
def models_by_relation() -> dict[str, str]:
    """`schema.table` -> the dbt model that builds it, from the manifest."""
    nodes = json.loads(require_manifest().read_text())["nodes"].values()
    return {
        f"{n['schema']}.{n.get('alias') or n['name']}": n["name"]
        for n in nodes
        if n["resource_type"] == "model"
    }


def dbt_relation_key(relation: str) -> dg.AssetKey:
    """The asset key of the dbt model that builds `relation` (`schema.table`, as ml.relations
    names what the models read)."""
    return dbt_model_key(models_by_relation()[relation])


def dbt_model_key(name: str) -> dg.AssetKey:
    """The asset key of the dbt model `name`, from the manifest and the translator: a Python
    asset that reads a model follows its schema or alias when they change. (The three dbt
    assets share one manifest and translator; dagster-dbt asks for exactly one of them.)"""
    return get_asset_key_for_model([nextsale_dbt_models], name)
