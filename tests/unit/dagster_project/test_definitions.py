"""The code location: a snapshot of the asset graph, and the small pure pieces around it.

A translator or folder change that silently re-keys or regroups assets shows up here. After an
intended change, refresh the snapshot: NEXTSALE_UPDATE_SNAPSHOTS=1 pytest tests/unit/dagster_project/test_definitions.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.assets.dbt import DbtBuildConfig, NextsaleDbtTranslator, dbt_build_args
from dagster_project.resources import WarehouseResource
from nextsale.config import dbt_vars
from nextsale.contracts import CONTRACTS

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


@pytest.fixture(scope="module")
def defs(pipeline_settings) -> dg.Definitions:
    from dagster_project.definitions import build_definitions

    return build_definitions(pipeline_settings)


def graph_snapshot(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "checks": sorted(c.name for c in node.check_keys),
        }
    return {
        "assets": assets,
        "schedules": {s.name: {"cron": s.cron_schedule, "job": s.job_name} for s in defs.schedules},
        "sensors": {s.name: {"job": s.job_name} for s in defs.sensors},
    }


def test_asset_graph_matches_the_snapshot(defs):
    current = graph_snapshot(defs)
    if os.environ.get("NEXTSALE_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


def test_every_layer_has_its_group(defs):
    groups = {node.group_name for node in defs.resolve_asset_graph().asset_nodes}
    assert groups == {"ingest", "staging", "intermediate", "marts", "ml", "activation", "sync"}


def test_every_asset_and_check_says_what_it_is(defs):
    graph = defs.resolve_asset_graph()
    undescribed = [
        node.key.to_user_string()
        for node in graph.asset_nodes
        if not (node.description or "").strip()
    ]
    assert undescribed == []
    checks = [graph.get_check_spec(key) for key in graph.asset_check_keys]
    undescribed = [c.key.to_user_string() for c in checks if not (c.description or "").strip()]
    assert checks and undescribed == []


def test_every_dbt_model_and_seed_has_a_description_of_its_own():
    """dagster-dbt shows a model's SQL where it has no description: each has words instead."""
    import json

    from dagster_project.dbt import dbt_project

    nodes = json.loads(dbt_project.manifest_path.read_text())["nodes"].values()
    undescribed = [
        n["unique_id"]
        for n in nodes
        if n["resource_type"] in ("model", "seed") and not (n.get("description") or "").strip()
    ]
    assert undescribed == []


def test_dbt_sources_are_the_ingestion_assets(defs):
    """Each raw contract is a dbt source, and dagster-dbt keys it as the ingestion asset."""
    graph = defs.resolve_asset_graph()
    for contract in CONTRACTS:
        node = graph.get(dg.AssetKey(["raw", contract.table]))
        assert node.is_materializable, contract.table
        assert node.child_keys, f"{contract.table} feeds no staging model"


def test_translator_groups_by_folder():
    translator = NextsaleDbtTranslator()
    group = lambda *fqn: translator.get_group_name({"fqn": ["nextsale", *fqn]})  # noqa: E731
    assert group("staging", "shop", "stg_shop__orders") == "staging"
    assert group("marts", "marketing", "customer_360") == "marts"
    assert group("marts", "ml", "ml_training_snapshots") == "ml"
    assert group("currency_rates") == "staging"


def test_scheduled_builds_skip_unit_tests_and_pass_the_warehouse_and_the_as_of_date(tmp_path):
    warehouse = WarehouseResource(
        duckdb_path=str(tmp_path / "w.duckdb"), landing_dir="", artifacts_dir=""
    )
    plain = dbt_build_args(DbtBuildConfig(), warehouse)
    assert plain[:4] == ["build", "--exclude-resource-type", "unit_test", "--vars"]
    assert json.loads(plain[-1]) == dbt_vars(tmp_path / "w.duckdb")
    dated = json.loads(dbt_build_args(DbtBuildConfig(as_of_date="2026-01-31"), warehouse)[-1])
    assert dated == {**dbt_vars(tmp_path / "w.duckdb"), "as_of_date": "2026-01-31"}


def test_what_people_act_on_is_expected_daily(defs):
    """Marts, scores, activation tables and syncs carry the daily freshness policy, so a run that
    failed or stopped shows them overdue in the UI."""
    graph = defs.resolve_asset_graph()
    fresh = {n.key.to_user_string() for n in graph.asset_nodes if n.freshness_policy}
    for key in (
        "marts/customer_360",
        "scores/customer_scores",
        "scores/next_best_offers",
        "activation/audience_members",
        "sync/hubspot",
    ):
        assert key in fresh
    assert not any(k.startswith(("staging/", "raw/")) for k in fresh)


def test_the_destination_registry_is_the_one_list_of_destinations():
    """nextsale.sync.DESTINATIONS, the dbt models marked as destination tables, the local
    vendor servers and the CLI all name the same destinations."""
    from click.testing import CliRunner

    from dagster_project.dbt import dbt_project
    from nextsale.cli import main
    from nextsale.sync import DESTINATIONS
    from tests.support.vendors import SERVERS

    nodes = json.loads(dbt_project.manifest_path.read_text())["nodes"].values()
    models = {
        n["name"]: (
            n["config"]["meta"]["destination"]["key"],
            n["config"]["meta"]["destination"]["email"],
        )
        for n in nodes
        if n["resource_type"] == "model" and "destination" in (n["config"].get("meta") or {})
    }
    registry = {d.table.split(".")[1]: (d.key, d.email) for d in DESTINATIONS.values()}
    assert models == registry
    (consent_test,) = [
        n for n in nodes if n["name"] == "assert_nobody_suppressed_is_sent_or_synced"
    ]
    tested = {ref.split(".")[-1] for ref in consent_test["depends_on"]["nodes"]}
    assert set(registry) <= tested
    assert set(SERVERS) == set(DESTINATIONS)
    assert CliRunner().invoke(main, ["destinations"]).output.split() == list(DESTINATIONS)
