"""The daily schedule and the sensor that reacts to new landing files."""

from __future__ import annotations

import os

import dagster as dg

from dagster_project.automation import build_landing_sensor, daily_schedule, landing_fingerprint


def test_daily_schedule_runs_everything_at_six_utc():
    assert daily_schedule.cron_schedule == "0 6 * * *"
    assert daily_schedule.execution_timezone == "UTC"
    assert daily_schedule.job_name == "materialize_everything"


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
