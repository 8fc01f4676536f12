"""The same project on PostgreSQL (`NEXTSALE_DBT_TARGET=postgres`), for real: a server from
Debian's package on 127.0.0.1, the whole graph through Dagster (ingest, dbt build, the checks),
scoring and the activation models, compared table by table with the DuckDB run on the same
generated data."""

from __future__ import annotations

import os
from collections.abc import Iterator

import dagster as dg
import duckdb
import pytest

from ml.data import read_calendar, read_snapshot
from ml.score import customer_scores
from ml.specs import SPECS
from ml.train import train_and_evaluate
from nextsale.config import Settings
from nextsale.warehouse import PostgresWarehouse
from tests.conftest import run_activation, run_everything, settings_for
from tests.support.postgres_server import postgres_server
from tests.support.warehouse import hash_bucket

# Tables whose rows and sums must agree between the two warehouses (their SQL is the same).
COMPARED = {
    "staging.stg_shop__orders": ["total_usd"],
    "intermediate.int_identity__components": [],
    "marts.customer_360": ["monetary_usd", "frequency"],
    "marts.customer_segments": [],
    "marts.product_affinity": ["lift"],
    "marts.product_upgrade_paths": [],
    "ml.training_snapshots": [
        "revenue_usd",
        "orders_count",
        "label_ltv_revenue_usd",
        "label_days_to_next_order",
    ],
    "ml.cross_sell_training_snapshots": ["category_buyer_share"],
    "ml.scoring_snapshot": ["revenue_last_365d_usd"],
}


@pytest.fixture(scope="module")
def postgres_settings(tmp_path_factory, generated) -> Iterator[Settings]:
    with postgres_server() as connection:
        os.environ.update(connection)  # the server's address, as a user sets it
        settings = settings_for(tmp_path_factory.mktemp("postgres"), generated.out_dir, "postgres")
        yield settings
        for key in connection:
            os.environ.pop(key, None)


@pytest.fixture(scope="module")
def postgres_run(postgres_settings) -> dg.ExecuteInProcessResult:
    return run_everything(postgres_settings)


@pytest.fixture(scope="module")
def postgres_activation(postgres_run, postgres_settings) -> dg.ExecuteInProcessResult:
    assert postgres_run.success
    return run_activation(postgres_settings)


def failed_checks(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}


def test_the_whole_graph_builds_on_postgres_with_the_same_checks(
    postgres_run, postgres_settings, first_run
):
    assert postgres_run.success
    # dbt built in Postgres: the DuckDB file holds only what ingestion validated
    with duckdb.connect(str(postgres_settings.duckdb_path), read_only=True) as con:
        schemas = {
            r[0]
            for r in con.execute("select schema_name from information_schema.schemata").fetchall()
        }
    assert "raw" in schemas and not schemas & {"staging", "marts", "ml"}
    # the same data fails the same (warning-level) checks on both warehouses, no more
    assert failed_checks(postgres_run) == failed_checks(first_run)


@pytest.mark.parametrize("table", COMPARED)
def test_postgres_and_duckdb_build_the_same_rows(
    postgres_run, postgres_settings, first_run, pipeline_settings, table
):
    measures = "".join(f", sum({c})" for c in COMPARED[table])
    sql = f"select count(*){measures} from {table}"
    on_postgres = PostgresWarehouse.from_env().query(sql).iloc[0].tolist()
    with duckdb.connect(str(pipeline_settings.duckdb_path), read_only=True) as con:
        on_duckdb = list(con.execute(sql).fetchall()[0])
    assert on_postgres[0] == on_duckdb[0] > 0
    assert on_postgres[1:] == pytest.approx([float(v) for v in on_duckdb[1:]], rel=1e-9)


def test_scoring_and_activation_on_postgres(postgres_activation, activation_run, pipeline_settings):
    assert postgres_activation.success and activation_run.success
    postgres = PostgresWarehouse.from_env()
    scores = postgres.query("select customer_key, purchase_propensity from scores.customer_scores")
    # scored again here: later tests rebuild the DuckDB warehouse's scores with gated models
    duckdb_warehouse = pipeline_settings.warehouse()
    people = read_snapshot(duckdb_warehouse, "customer", "training")
    spec = SPECS["purchase_propensity"]
    model = train_and_evaluate(spec, people, read_calendar(duckdb_warehouse)).model
    expected = customer_scores(duckdb_warehouse, {spec.name: model})
    # the same rows in the same order give the same model, so the same scores
    both = scores.merge(expected, on="customer_key", suffixes=("_pg", "_duckdb"))
    assert len(both) == len(scores) == len(expected) > 0
    assert both["purchase_propensity_pg"].to_numpy() == pytest.approx(
        both["purchase_propensity_duckdb"].to_numpy(), abs=1e-6, nan_ok=True
    )
    # the default (Postgres) version of the holdout hash puts people where Python's md5 does
    members = postgres.query(
        "select customer_key, audience, is_holdout from activation.audience_members"
    )
    assert len(members) > 0
    expected_holdout = [
        hash_bucket(f"{key}|{audience}", 10000) < 1000
        for key, audience in zip(members["customer_key"], members["audience"], strict=True)
    ]
    assert members["is_holdout"].tolist() == expected_holdout


def test_the_sync_engine_plans_from_postgres_tables(
    postgres_activation, postgres_settings, tmp_path
):
    from nextsale.sync import sync
    from nextsale.warehouse import pull_schema

    copied = pull_schema(postgres_settings.warehouse(), postgres_settings.duckdb_path, "activation")
    assert copied["activation.hubspot__contacts"] > 0
    result = sync("hubspot", postgres_settings.duckdb_path, env={}, dry_run_dir=tmp_path)
    rows = PostgresWarehouse.from_env().query(
        "select count(*) as n from activation.hubspot__contacts"
    )
    assert result.log["rows_in_table"] == int(rows["n"].iloc[0]) > 0
    assert result.log["planned_upserts"] == result.log["rows_in_table"]
    assert any(tmp_path.iterdir())
