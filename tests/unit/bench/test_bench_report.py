"""`make bench`'s report: the machine-readable records and the figures derived from them."""

from __future__ import annotations

import importlib.util

import pytest

from nextsale.config import REPO_ROOT

spec = importlib.util.spec_from_file_location("bench_report", REPO_ROOT / "bench" / "report.py")
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)

RESULTS = [
    {"stage": stage, "customers": customers, "seconds": seconds, "peak_rss_mb": 1024.0 * gib}
    for stage, customers, seconds, gib in [
        ("plain_duckdb_load", 10_000, 2.0, 0.3),
        ("ingest", 10_000, 5.0, 0.5),
        ("plain_duckdb_load", 1_000_000, 100.0, 1.0),
        ("ingest", 1_000_000, 140.0, 2.0),
        ("dbt_build", 10_000, 10.0, 1.0),
        ("dbt_build", 1_000_000, 100.0, 6.0),
    ]
]


def test_records_carry_stage_customers_seconds_and_peak_memory_in_gib():
    records = report.records(RESULTS)
    assert records[3] == {
        "stage": "ingest",
        "customers": 1_000_000,
        "seconds": 140.0,
        "peak_rss_gib": 2.0,
    }
    assert {tuple(r) for r in records} == {("stage", "customers", "seconds", "peak_rss_gib")}


def test_slope_is_the_log_log_growth_of_each_stage():
    # dbt_build: 10x the time for 100x the customers is a slope of 0.5
    assert "| dbt_build | 0.50 | 2 |" in report.slopes(RESULTS)
    assert "| ingest | " in report.slopes(RESULTS)


def test_ingestion_ratio_is_ingest_over_the_plain_load_of_the_same_scale():
    text = report.ingestion_ratio(RESULTS)
    assert "| 10,000 | 5.0 s | 2.0 s | 2.50 |" in text
    assert "| 1,000,000 | 140.0 s | 100.0 s | 1.40 |" in text


@pytest.mark.parametrize("stages", [("ingest", "dbt_build"), ("ingest",)])
def test_run_table_sums_time_and_takes_the_highest_peak(stages):
    table = report.run_table(RESULTS, stages, "The run")
    assert table.startswith("The run at 1,000,000 customers")
    total = sum(r["seconds"] for r in RESULTS if r["stage"] in stages and r["customers"] > 10**4)
    peak = max(r["peak_rss_mb"] for r in RESULTS if r["stage"] in stages) / 1024
    assert f"| **all** | **{total / 60:,.1f} min** | **{peak:,.1f} GiB** |" in table


def test_scoring_with_reasons_adds_the_reasons_of_activation_to_the_score_stage():
    pipeline = [
        {"stage": s, "customers": 1_000_000, "seconds": 10.0, "peak_rss_mb": 1024.0}
        for s in report.PIPELINE
    ]
    pipeline[-1] |= {
        "parts": {"audiences": 5.0, "reasons": 45.0, "destinations": 5.0},
        "reasons": {"people": 120_000},
    }
    text = report.goals(pipeline)
    assert "120,000 people an audience sends to" in text
    assert "| 55.0 s | under 60 s | yes |" in text


def test_the_approximate_reasons_are_judged_by_their_agreement_with_exact_treeshap():
    pipeline = [
        {"stage": s, "customers": 1_000_000, "seconds": 10.0, "peak_rss_mb": 1024.0}
        for s in report.PIPELINE
    ]
    pipeline.append(
        {
            "stage": "reasons_agreement",
            "customers": 1_000_000,
            "seconds": 9.0,
            "peak_rss_mb": 1024.0,
            "upsell": {
                "rows": 1000,
                "trees": 200,
                "exact_s": 8.0,
                "approx_s": 0.2,
                "top_reason_agreement": 0.763,
            },
        }
    )
    text = report.goals(pipeline)
    assert "| 76.3% | at least 95 % to be used | no |" in text
