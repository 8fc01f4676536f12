"""A real shop's first run: any export in, segments, scores (or stated nulls), audiences and a
dry-run sync out, whatever the models can or cannot learn from it."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.materialize import DBT_STEPS
from nextsale.config import Settings
from nextsale.summary import read_summary
from nextsale.sync import DESTINATIONS
from tests.conftest import settings_for

# Five customers, ten orders in three currencies, three products: orders, their lines and the
# products are the whole export (no CRM, no web analytics, no campaigns).
ORDERS = """order_id,customer_id,email,created_at,currency,subtotal,discount,shipping,total,status,is_test
o1,c1,ana@shop.test,2026-03-02T10:00:00Z,EUR,40,0,5,45,paid,false
o2,c1,ana@shop.test,2026-05-11T09:30:00Z,EUR,25,0,5,30,paid,false
o3,c2,ben@shop.test,2026-04-20T14:00:00Z,GBP,60,5,0,55,paid,false
o4,c2,ben@shop.test,2026-08-01T08:00:00Z,GBP,20,0,5,25,paid,false
o5,c2,ben@shop.test,2026-10-15T18:45:00Z,GBP,80,0,0,80,paid,false
o6,c3,cleo@shop.test,2026-06-30T12:00:00Z,USD,15,0,5,20,paid,false
o7,c4,dev@shop.test,2026-09-09T11:11:00Z,USD,100,10,0,90,paid,false
o8,c4,dev@shop.test,2026-10-01T11:11:00Z,USD,30,0,5,35,refunded,false
o9,c5,eli@shop.test,2026-10-20T16:00:00Z,EUR,50,0,5,55,paid,false
o10,c5,eli@shop.test,2026-10-28T16:30:00Z,EUR,45,0,5,50,paid,false
"""
LINES = "order_id,line_id,product_id,quantity,unit_price,discount\n" + "".join(
    f"o{n},l{n},p{n % 3 + 1},1,{price},0\n"
    for n, price in enumerate([40, 25, 60, 20, 80, 15, 100, 30, 50, 45], start=1)
)
PRODUCTS = """product_id,name,category,family,tier,price,margin_rate,active
p1,Mug,Kitchen,mug,1,20,0.4,true
p2,Mug Pro,Kitchen,mug,2,45,0.35,true
p3,Lamp,Home,lamp,1,60,0.3,true
"""


def write_export(landing: Path) -> None:
    for folder, text in {
        "shop/orders": ORDERS,
        "shop/order_lines": LINES,
        "shop/products": PRODUCTS,
    }.items():
        (landing / folder).mkdir(parents=True)
        (landing / folder / "export.csv").write_text(text)


def materialize_all(settings: Settings, **dbt_config) -> dg.ExecuteInProcessResult:
    """Every asset, syncs included (dry runs: no tokens), as `--select '*'` does."""
    from dagster_project.definitions import build_definitions

    defs = build_definitions(settings)
    config = {"config": dbt_config} if dbt_config else {}
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        run_config={"ops": {op: config for op in DBT_STEPS}} if config else None,
    )


def query(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def assert_the_outputs_are_there(settings: Settings, result: dg.ExecuteInProcessResult) -> int:
    """Green, with people, segments, scores, audiences and a dry run per destination."""
    failed = [e.step_key for e in result.get_step_failure_events()]
    assert result.success, failed
    people = query(settings, "select count(*) from marts.customer_360")[0][0]
    assert people > 0
    assert query(settings, "select count(*) from marts.customer_segments")[0][0] == people
    assert query(settings, "select count(*) from scores.customer_scores")[0][0] == people
    assert query(settings, "select count(*) from activation.audience_status")[0][0] > 0
    syncs = query(settings, "select destination, status from sync.log order by 1")
    assert syncs == [(name, "dry run") for name in sorted(DESTINATIONS)]
    return people


def test_a_tiny_export_of_orders_lines_and_products_only_ends_green(tmp_path):
    landing = tmp_path / "landing"
    write_export(landing)
    settings = settings_for(tmp_path, landing)
    result = materialize_all(settings)
    assert assert_the_outputs_are_there(settings, result) == 5
    # no model can learn from five people: every score is null, and says why
    status = query(settings, "select model, version_in_use, scores from scores.model_status")
    assert status and all(v is None and s.startswith("null") for _, v, s in status)
    assert query(settings, "select count(purchase_propensity) from scores.customer_scores") == [
        (0,)
    ]
    reasons = dict(
        query(settings, "select audience, status_reason from activation.audience_status")
    )
    assert "no published version" in reasons["upsell_ready"]
    assert "no published version" in reasons["cross_sell"]
    # the optional sources are empty tables, and the summary says what they would have fed
    summary = read_summary(settings.duckdb_path)
    assert {folder for folder, _ in summary.empty_sources} >= {
        "crm/contacts",
        "crm/companies",
        "crm/erasure_requests",
        "web/events",
        "campaigns/sends",
    }


@pytest.fixture(scope="module")
def online_retail(tmp_path_factory) -> Path:
    """The README's real-data path on a slice of Online Retail (every tenth customer)."""
    from nextsale_lab.importers import DEFAULT_SOURCE, import_dataset

    if not DEFAULT_SOURCE.is_dir():
        pytest.fail(f"the shared data sets are not at {DEFAULT_SOURCE}")
    landing = tmp_path_factory.mktemp("online-retail")
    import_dataset("online-retail", landing, sample=True)
    return landing


def test_the_readme_online_retail_path_ends_green(online_retail, tmp_path):
    settings = settings_for(tmp_path, online_retail)
    assert assert_the_outputs_are_there(settings, materialize_all(settings)) > 100


def test_six_months_of_online_retail_train_propensity_on_a_real_test_cutoff(
    online_retail, tmp_path
):
    settings = settings_for(tmp_path, online_retail)
    result = materialize_all(settings, as_of_date="2011-06-01")
    assert_the_outputs_are_there(settings, result)
    manifest = json.loads(
        max(
            (settings.artifacts_dir / "models" / "purchase_propensity").glob("*/model.json")
        ).read_text()
    )
    # weekly cutoffs and a 30-day horizon: judged on a cutoff a month before as_of
    assert manifest["horizon_days"] == 30
    assert manifest["test_cutoff"] == "2011-05-02"
    assert manifest["n_train"] > 0 and manifest["n_test"] > 0
    assert manifest["baselines"] and manifest["gate"]["reasons"]


def cli(monkeypatch, tmp_path: Path, landing: Path, *args: str):
    """The `nextsale` command on a warehouse of its own under tmp_path."""
    from click.testing import CliRunner

    from nextsale.cli import main

    for name, value in {
        "NEXTSALE_LANDING_DIR": landing,
        "NEXTSALE_DUCKDB_PATH": tmp_path / "shop.duckdb",
        "NEXTSALE_ARTIFACTS_DIR": tmp_path / "shop.artifacts",
        "DAGSTER_HOME": tmp_path / "shop.dagster_home",
        "NEXTSALE_DBT_TARGET": "duckdb",
    }.items():
        monkeypatch.setenv(name, str(value))
    return CliRunner().invoke(main, list(args))


def test_a_missing_orders_folder_ends_with_one_plain_message_and_the_next_step(
    monkeypatch, tmp_path
):
    landing = tmp_path / "landing"
    write_export(landing)
    (landing / "shop" / "orders" / "export.csv").unlink()
    (landing / "shop" / "orders").rmdir()
    result = cli(monkeypatch, tmp_path, landing, "materialize", "--select", "group:ingest")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "No landing files in" in result.output and "shop/orders" in result.output
    assert result.output.strip().splitlines()[-1].startswith("Next: fix the above")


def test_a_warehouse_another_process_holds_is_named_with_its_holder(monkeypatch, tmp_path):
    import subprocess
    import sys

    database = tmp_path / "shop.duckdb"
    duckdb.connect(str(database)).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\n"
            f"c = duckdb.connect({str(database)!r}); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        for command in (["summary"], ["sync", "hubspot", "--dry-run"], ["materialize"]):
            result = cli(monkeypatch, tmp_path, tmp_path / "landing", *command)
            assert result.exit_code == 1, command
            assert f"in use by process {holder.pid}" in result.output, command
            assert "Traceback" not in result.output
    finally:
        holder.kill()
        holder.wait()


def test_a_sync_before_the_first_build_says_to_materialise_first(monkeypatch, tmp_path):
    duckdb.connect(str(tmp_path / "shop.duckdb")).close()
    result = cli(monkeypatch, tmp_path, tmp_path / "landing", "sync", "hubspot", "--dry-run")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Materialise the pipeline first (`nextsale materialize`)" in result.output
