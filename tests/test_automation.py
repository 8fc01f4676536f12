"""The daily schedule and the sensor that reacts to new landing files."""

from __future__ import annotations

import os

import dagster as dg

from dagster_project.automation import (
    build_daily_schedule,
    build_landing_sensor,
    landing_fingerprint,
)
from dagster_project.definitions import build_definitions
from nextsale.config import Settings


def test_daily_schedule_runs_at_six_utc_and_syncs_only_once_a_destination_is_configured(
    tmp_path, monkeypatch
):
    for token in ("HUBSPOT_ACCESS_TOKEN", "KLAVIYO_API_KEY", "SALESFORCE_ACCESS_TOKEN"):
        monkeypatch.delenv(token, raising=False)
    for exported in ("NEXTSALE_DUCKDB_PATH", "NEXTSALE_DBT_TARGET"):  # restored afterwards
        monkeypatch.setenv(exported, os.environ.get(exported, ""))
    settings = Settings(
        tmp_path / "landing", tmp_path / "w.duckdb", tmp_path / "artifacts", "duckdb"
    )
    bare = build_definitions(settings)
    schedule = bare.resolve_schedule_def("daily_refresh")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 6 * * *", "UTC")
    graph = bare.resolve_asset_graph()
    selected = bare.resolve_job_def(schedule.job_name).asset_layer.selected_asset_keys
    syncs = {k for k in graph.get_all_asset_keys() if k.path[0] == "sync"}
    assert syncs and not selected & syncs and len(selected) > 50

    monkeypatch.setenv("KLAVIYO_API_KEY", "a-token")
    configured = build_definitions(settings).resolve_schedule_def("daily_refresh")
    assert configured.job_name == "materialize_everything"
    assert build_daily_schedule(["klaviyo"]).job_name == "materialize_everything"


def test_sensor_requests_a_run_only_when_landing_files_change(tmp_path):
    orders = tmp_path / "shop" / "orders"
    orders.mkdir(parents=True)
    sensor = build_landing_sensor(tmp_path)

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
