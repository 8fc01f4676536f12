"""The daily and weekly schedules, and the sensor that reacts to new landing files."""

from __future__ import annotations

import json
import os

import dagster as dg

from dagster_project.assets.dbt import DbtBuildConfig, dbt_build_args
from dagster_project.automation import (
    DAILY_DBT_CONFIG,
    all_assets_job,
    build_jobs,
    build_landing_sensor,
    landing_fingerprint,
)
from dagster_project.definitions import build_definitions
from dagster_project.resources import WarehouseResource
from nextsale.config import Settings


def test_daily_schedule_scores_at_six_utc_weekly_retrains_and_syncs_wait_for_credentials(
    tmp_path, monkeypatch
):
    for token in ("HUBSPOT_ACCESS_TOKEN", "KLAVIYO_API_KEY", "SALESFORCE_ACCESS_TOKEN"):
        monkeypatch.delenv(token, raising=False)
    settings = Settings(
        tmp_path / "landing", tmp_path / "w.duckdb", tmp_path / "artifacts", "duckdb"
    )
    bare = build_definitions(settings)
    daily = bare.resolve_schedule_def("daily_refresh")
    weekly = bare.resolve_schedule_def("weekly_retrain")
    assert (daily.cron_schedule, daily.execution_timezone) == ("0 6 * * *", "UTC")
    assert (weekly.cron_schedule, weekly.execution_timezone) == ("0 3 * * 0", "UTC")
    graph = bare.resolve_asset_graph()
    everything = graph.get_all_asset_keys()
    scored = bare.resolve_job_def(daily.job_name).asset_layer.selected_asset_keys
    retrained = bare.resolve_job_def(weekly.job_name).asset_layer.selected_asset_keys
    syncs = {k for k in everything if k.path[0] == "sync"}
    models = {k for k in everything if k.path[0] == "models"}
    training = {
        dg.AssetKey(["ml", "training_snapshots"]),
        dg.AssetKey(["ml", "campaign_snapshots"]),
    }
    assert syncs and not (scored | retrained) & syncs
    # the daily run scores with the published versions: nothing that trains, all the rest
    assert len(models) >= 7 and not scored & (models | training)
    assert retrained == everything - syncs and scored == retrained - models - training - {
        dg.AssetKey(["ml", "cross_sell_training_snapshots"])
    }
    assert bare.resolve_sensor_def("new_landing_files").job_name == daily.job_name

    monkeypatch.setenv("KLAVIYO_API_KEY", "a-token")
    configured = build_definitions(settings)
    assert configured.resolve_schedule_def("weekly_retrain").job_name == "materialize_everything"
    selected = configured.resolve_job_def("score_daily").asset_layer.selected_asset_keys
    assert syncs <= selected
    assert build_jobs(["klaviyo"])[1] is all_assets_job
    # and its dbt step keeps the identity history already built
    config = DbtBuildConfig(**DAILY_DBT_CONFIG["ops"]["nextsale_dbt_models"]["config"])
    warehouse = WarehouseResource.from_settings(settings)
    assert json.loads(dbt_build_args(config, warehouse)[-1])["refresh_history"] is False
    assert "refresh_history" not in json.loads(dbt_build_args(DbtBuildConfig(), warehouse)[-1])


def test_sensor_requests_a_run_only_when_landing_files_change(tmp_path):
    orders = tmp_path / "shop" / "orders"
    orders.mkdir(parents=True)
    sensor = build_landing_sensor(tmp_path, build_jobs([])[0])

    first = sensor(dg.build_sensor_context(cursor=None))
    assert len(first.run_requests) == 1
    cursor = first.cursor

    unchanged = sensor(dg.build_sensor_context(cursor=cursor))
    assert isinstance(unchanged, dg.SkipReason)

    (orders / "part-1.csv").write_text("order_id\n1\n")
    added = sensor(dg.build_sensor_context(cursor=cursor))
    assert len(added.run_requests) == 1 and added.cursor != cursor


def test_fingerprint_ignores_files_outside_the_contracts(tmp_path):
    before = landing_fingerprint(tmp_path)
    (tmp_path / "_ground_truth").mkdir()
    (tmp_path / "_ground_truth" / "summary.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("hello")
    assert landing_fingerprint(tmp_path) == before
    (tmp_path / "web" / "events").mkdir(parents=True)
    path = tmp_path / "web" / "events" / "e.jsonl"
    path.write_text("{}\n")
    changed = landing_fingerprint(tmp_path)
    assert changed != before
    os.utime(path, ns=(1, 1))
    assert landing_fingerprint(tmp_path) != changed
