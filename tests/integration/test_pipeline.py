"""The whole graph, materialised for real through Dagster into a temporary DuckDB file."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from nextsale.config import dbt_vars
from nextsale.contracts import CONTRACTS
from nextsale.sync import DESTINATIONS
from tests.conftest import run_everything, settings_for

ROW_KINDS_QUARANTINED = {
    "bad_timestamp",
    "missing_id",
    "unknown_currency",
    "negative_quantity",
    "exact_duplicate",
}


def query(settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def table_counts(settings) -> dict[str, int]:
    tables = query(
        settings,
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_schema in ('raw', 'raw_quarantine', 'staging', 'marts')",
    )
    return {t: query(settings, f"select count(*) from {t}")[0][0] for (t,) in tables}


@pytest.fixture(scope="module")
def second_run(pipeline_settings, first_run):
    before = table_counts(pipeline_settings)
    return run_everything(pipeline_settings), before


def ingest_metadata(result, table: str) -> dict:
    (event,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["raw", table])
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_every_asset_materialises_and_every_check_passes(first_run):
    assert first_run.success
    materialised = {
        e.asset_key.to_user_string() for e in first_run.get_asset_materialization_events()
    }
    assert {
        "raw/shop_orders",
        "reference/currency_rates",
        "staging/stg_shop__orders",
        "marts/customer_360",
    } <= materialised
    failed = [
        c.check_name
        for c in first_run.get_asset_check_evaluations()
        if not c.passed and c.severity == dg.AssetCheckSeverity.ERROR
    ]
    assert failed == []
    assert len(first_run.get_asset_check_evaluations()) >= 2 * len(CONTRACTS) + 30


def test_every_table_materialisation_carries_its_row_count(first_run, pipeline_settings):
    counted = {}
    for event in first_run.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if "dagster/row_count" in materialization.metadata:
            counted[materialization.asset_key.path[-1]] = materialization.metadata[
                "dagster/row_count"
            ].value
    # ingestion, seeds and dbt tables alike; views are not counted (that would run them)
    assert {"shop_orders", "currency_rates", "customer_360", "training_snapshots"} <= set(counted)
    with duckdb.connect(str(pipeline_settings.duckdb_path), read_only=True) as con:
        assert (
            counted["customer_360"]
            == con.execute("select count(*) from marts.customer_360").fetchone()[0]
        )


def test_quarantine_matches_the_planted_dirty_rows_exactly(first_run, pipeline_settings, generated):
    for table, kinds in generated.dirty_rows.items():
        planted = sum(n for kind, n in kinds.items() if kind in ROW_KINDS_QUARANTINED)
        meta = ingest_metadata(first_run, table)
        assert meta["rows_quarantined"] == planted, table
        assert (
            meta["rows_in"] == meta["rows_kept"] + meta["rows_quarantined"] == generated.rows[table]
        )


def test_staging_drops_test_orders_and_keeps_each_order_once(
    first_run, pipeline_settings, generated
):
    ((raw_orders, raw_tests),) = query(
        pipeline_settings,
        "select count(distinct order_id), count(*) filter (where is_test) from raw.shop_orders",
    )
    ((staged,),) = query(pipeline_settings, "select count(*) from staging.stg_shop__orders")
    assert raw_tests == generated.dirty_rows["shop_orders"]["test_order"]
    assert staged == raw_orders - raw_tests
    ((non_usd,),) = query(
        pipeline_settings,
        "select count(*) from staging.stg_shop__orders where currency <> 'USD' and total_usd = total",
    )
    assert non_usd == 0


def test_customer_360_leaves_out_erased_people(first_run, pipeline_settings):
    ((customers, erased),) = query(
        pipeline_settings,
        """select count(*), count(*) filter (where email in
               (select email from staging.stg_crm__erasure_requests)) from marts.customer_360""",
    )
    assert customers > 0
    assert erased == 0


def test_dbt_unit_tests_pass(first_run, pipeline_settings):
    from dagster_project.dbt import dbt_project

    dbt = Path(sys.executable).parent / "dbt"
    done = subprocess.run(
        [
            str(dbt),
            "test",
            "--select",
            "test_type:unit",
            *("--vars", json.dumps(dbt_vars(pipeline_settings.duckdb_path))),
            "--profiles-dir",
            str(dbt_project.profiles_dir),
        ],
        cwd=dbt_project.project_dir,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    summary = re.search(r"PASS=(\d+) .* TOTAL=(\d+)", done.stdout)
    assert summary and summary[1] == summary[2] and int(summary[2]) >= 7, done.stdout[-2000:]


def test_dbt_docs_generate_and_every_mart_model_and_column_is_described(
    activation_run, pipeline_settings, tmp_path
):
    from dagster_project.dbt import dbt_project

    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "docs",
            "generate",
            "--target-path",
            str(tmp_path),
            *("--vars", json.dumps(dbt_vars(pipeline_settings.duckdb_path))),
            "--profiles-dir",
            str(dbt_project.profiles_dir),
        ],
        cwd=dbt_project.project_dir,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    catalog = json.loads((tmp_path / "catalog.json").read_text())
    marts = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model"
        and node["original_file_path"].startswith("models/marts")
    }
    assert len(marts) >= 15 and set(marts) <= set(catalog["nodes"])
    undescribed = [node["name"] for node in marts.values() if not node["description"].strip()]
    by_name = {node["name"]: node for node in marts.values()}
    for uid, node in marts.items():
        # a published activation table is its tested candidate, copied: described there
        documented = by_name.get(node["name"].removeprefix("published__"), node)
        described = {
            name.lower() for name, c in documented["columns"].items() if c["description"].strip()
        }
        undescribed += [
            f"{node['name']}.{column}"
            for column in catalog["nodes"][uid]["columns"]
            if column.lower() not in described
        ]
    assert undescribed == []
    # the destinations, as exposures of the tables synced to them
    destinations = {
        e["name"]: e["depends_on"]["nodes"]
        for e in manifest["exposures"].values()
        if e["type"] == "application"
    }
    assert set(destinations) == set(DESTINATIONS)
    # the published table the sync reads, and what it applies in every run
    for name in ("published__hubspot__contacts", "suppressions", "erasure_requests"):
        assert f"model.nextsale.{name}" in destinations["hubspot"]


def test_running_again_loads_nothing_twice(second_run, pipeline_settings, generated):
    result, counts_before = second_run
    assert result.success
    for contract in CONTRACTS:
        meta = ingest_metadata(result, contract.table)
        assert meta["files_loaded"] == 0 and meta["rows_in"] == 0, contract.table
        assert meta["files_unchanged"] == len(contract.files(generated.out_dir))
    assert table_counts(pipeline_settings) == counts_before


def test_a_file_missing_a_column_blocks_downstream_but_loads_the_rest(tmp_path, generated):
    landing = tmp_path / "landing"
    shutil.copytree(generated.out_dir, landing, ignore=shutil.ignore_patterns("_ground_truth"))
    bad = landing / "shop/orders/part-99999.csv"
    bad.write_text("order_id,email,created_at\n1,a@b.com,2026-01-01T00:00:00Z\n")
    settings = settings_for(tmp_path, landing)
    result = run_everything(settings)
    assert not result.success
    (check,) = [
        c
        for c in result.get_asset_check_evaluations()
        if c.asset_key == dg.AssetKey(["raw", "shop_orders"]) and c.check_name == "files_loaded"
    ]
    assert not check.passed
    assert (
        "shop/orders/part-99999.csv: missing required column(s) customer_id, currency"
        in check.description
    )
    assert "The dbt models built from raw.shop_orders are held back this run" in check.description
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "raw/shop_orders" in materialised and "marts/customer_360" not in materialised
    ((kept,),) = query(settings, "select count(*) from raw.shop_orders")
    assert kept == generated.rows["shop_orders"] - sum(
        n
        for kind, n in generated.dirty_rows["shop_orders"].items()
        if kind in ROW_KINDS_QUARANTINED
    )


CONSENT_STEP = [
    dg.AssetKey(["raw", "crm_contacts"]),
    dg.AssetKey(["staging", "stg_crm__contact_versions"]),
    dg.AssetKey(["staging", "stg_crm__contacts"]),
]


def materialise(settings, instance, keys, rebuild: bool = False) -> dg.ExecuteInProcessResult:
    from dagster_project.definitions import build_definitions

    defs = build_definitions(settings)
    config = {"ops": {"nextsale_dbt_models": {"config": {"reuse_unchanged": False}}}}
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        raise_on_error=False,
        asset_selection=keys,
        run_config=config if rebuild else None,
    )


def dbt_materialisations(result) -> dict[str, dict]:
    return {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[0] == "staging"
    }


def test_a_dbt_step_whose_inputs_are_unchanged_is_reused_and_a_consent_change_rebuilds_it(
    first_run, pipeline_settings, generated, tmp_path
):
    from dagster_project.assets.dbt_reuse import INPUTS_KEY, REUSED_KEY

    assert first_run.success
    landing = tmp_path / "landing"
    shutil.copytree(generated.out_dir, landing, ignore=shutil.ignore_patterns("_ground_truth"))
    settings = settings_for(tmp_path, landing)
    shutil.copy(pipeline_settings.duckdb_path, settings.duckdb_path)
    instance = dg.DagsterInstance.ephemeral()

    built = materialise(settings, instance, CONSENT_STEP)
    assert built.success
    assert all(REUSED_KEY not in m for m in dbt_materialisations(built).values())
    checks = {(c.asset_key, c.check_name): c.passed for c in built.get_asset_check_evaluations()}
    assert checks

    again = materialise(settings, instance, CONSENT_STEP)
    assert again.success
    reused = dbt_materialisations(again)
    assert set(reused) == set(dbt_materialisations(built))
    assert all(m[REUSED_KEY].value == built.run_id for m in reused.values())
    assert {m[INPUTS_KEY].value for m in reused.values()} == {
        m[INPUTS_KEY].value for m in dbt_materialisations(built).values()
    }
    # the tests' outcomes are reported again, as they were
    assert {
        (c.asset_key, c.check_name): c.passed for c in again.get_asset_check_evaluations()
    } == checks

    # asked to rebuild, it builds, and the next run reuses that build
    rebuilt = materialise(settings, instance, CONSENT_STEP, rebuild=True)
    assert all(REUSED_KEY not in m for m in dbt_materialisations(rebuilt).values())
    after = dbt_materialisations(materialise(settings, instance, CONSENT_STEP))
    assert all(m[REUSED_KEY].value == rebuilt.run_id for m in after.values())

    # a newer version of a contact who opted in to email, opting out, arrives
    (first, *_) = sorted((landing / "crm/contacts").glob("*.csv"))
    with first.open(newline="") as f:
        contact = next(r for r in csv.DictReader(f) if r["email_opt_in"] == "true")
    contact |= {"updated_at": "2026-11-30T12:00:00Z", "email_opt_in": "false"}
    with (landing / "crm/contacts/part-99999.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(contact))
        writer.writeheader()
        writer.writerow(contact)
    changed = materialise(settings, instance, CONSENT_STEP)
    assert changed.success
    assert all(REUSED_KEY not in m for m in dbt_materialisations(changed).values())
    ((opt_in,),) = query(
        settings,
        "select is_email_opt_in from staging.stg_crm__contacts "
        f"where contact_id = '{contact['contact_id']}'",
    )
    assert opt_in is False


def test_scoring_again_to_the_same_scores_keeps_their_time(first_run, pipeline_settings, tmp_path):
    """So that activation, which reads the scores, sees nothing new on a re-run."""
    from ml.score import customer_scores, write_table
    from nextsale.warehouse import DuckDBWarehouse

    assert first_run.success
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    shutil.copy(pipeline_settings.duckdb_path, warehouse.path)
    first = customer_scores(warehouse, {})
    write_table(warehouse, "customer_scores", first)
    again = customer_scores(warehouse, {})
    assert again["scored_at"].nunique() == 1
    assert again["scored_at"].iloc[0] == first["scored_at"].iloc[0]
    # a stored table that differs (one person fewer) is scored anew
    write_table(warehouse, "customer_scores", first.iloc[1:])
    assert customer_scores(warehouse, {})["scored_at"].iloc[0] > first["scored_at"].iloc[0]
