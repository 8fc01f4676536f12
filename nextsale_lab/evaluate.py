"""`nextsale evaluate`: the models against their baselines on real data (DESIGN §9).

For each data set: import it onto the landing contracts, ingest it, build the ML snapshots with
the same dbt feature SQL (horizons set by dbt vars to fit the data's span), train and judge every
model with the same code as the pipeline, and report each model beside each baseline on the
same split. Horizons follow the span: a 90-day propensity horizon everywhere; for LTV the
longest horizon that still leaves two purged training cutoffs before the test cutoff, except
CDNOW, which gets the classic 39-week calibration and 39-week holdout (BG/NBD's home ground).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from ml.data import Calendar, read_snapshot
from ml.specs import SPECS
from ml.train import ModelRun, train_and_evaluate
from nextsale.config import DBT_PROJECT_DIR, REPO_ROOT
from nextsale.contracts import CONTRACTS
from nextsale.ingest import ingest_table
from nextsale_lab.importers import DEFAULT_SOURCE, import_dataset

PROPENSITY_HORIZON_DAYS = 90
MIN_HISTORY_DAYS = 30  # a training cutoff needs some past to describe
DOC = REPO_ROOT / "docs" / "evaluation.md"


@dataclass(frozen=True)
class DatasetPlan:
    name: str
    ltv_horizon_days: int
    ltv_train_horizon_days: int  # shorter than the horizon only where the data is too short
    ltv_test_cutoff: date | None = None


def _month_starts(first: date, as_of: date) -> list[date]:
    months, day = [], date(first.year, first.month, 1)
    while day < as_of:
        months.append(day)
        day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return months


def longest_ltv_horizon(first: date, as_of: date) -> int:
    """The longest horizon (in 15-day steps, at most a year) with a test cutoff whose horizon is
    complete and two earlier cutoffs whose purged label windows close before it."""
    cutoffs = [c for c in _month_starts(first, as_of) if c >= first + timedelta(MIN_HISTORY_DAYS)]
    for horizon in range(365, 29, -15):
        span = timedelta(horizon)
        tests = [c for c in cutoffs if c + span <= as_of]
        if tests and sum(c + span <= max(tests) for c in cutoffs) >= 2:
            return horizon
    raise ValueError("the data set is too short for any LTV horizon")


def plan(name: str, first: date, as_of: date) -> DatasetPlan:
    if name == "cdnow":
        # 39 weeks of calibration from 1997-01-01, 39 weeks of holdout to the end of the data.
        # Purged training labels must close by the test cutoff, so the model learns from
        # 26-week windows (two cutoffs) and its revenue is scaled to 39 weeks.
        test = date(1997, 10, 1)
        return DatasetPlan(name, 273, (test - date(1997, 4, 1)).days, test)
    horizon = longest_ltv_horizon(first, as_of)
    return DatasetPlan(name, horizon, horizon)


def run_dbt(database: Path, args: list[str], variables: dict) -> None:
    env = {**os.environ, "NEXTSALE_DUCKDB_PATH": str(database), "DO_NOT_TRACK": "1"}
    dbt = Path(sys.executable).parent / "dbt"
    command = [str(dbt), *args, "--profiles-dir", ".", "--vars", json.dumps(variables), "--quiet"]
    result = subprocess.run(command, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"dbt {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}"
        )


SNAPSHOTS = "+ml_training_snapshots +ml_cross_sell_training_snapshots"


def _order_span(database: Path) -> tuple[date, date]:
    with duckdb.connect(str(database), read_only=True) as con:
        first, last = con.execute(
            "select min(created_at)::date, max(created_at)::date from raw.shop_orders"
        ).fetchall()[0]
    return first, last + timedelta(days=1)


def evaluate_dataset(
    name: str,
    work_dir: Path,
    source: Path = DEFAULT_SOURCE,
    sample: bool = False,
    progress: Callable[[str], None] = print,
) -> tuple[DatasetPlan, list[ModelRun]]:
    landing, database = work_dir / name / "landing", work_dir / name / "warehouse.duckdb"
    database.unlink(missing_ok=True)
    progress(f"[{name}] importing and ingesting")
    import_dataset(name, landing, source, sample=sample)
    for contract in CONTRACTS:
        ingest_table(database, contract, landing)
    first, as_of = _order_span(database)
    dataset = plan(name, first, as_of)
    variables = {
        "ml_cutoffs": [c.isoformat() for c in _month_starts(first, as_of)],
        "ml_propensity_horizon_days": PROPENSITY_HORIZON_DAYS,
        "ml_ltv_horizon_days": dataset.ltv_horizon_days,
    }
    progress(f"[{name}] dbt: feature snapshots at {len(variables['ml_cutoffs'])} monthly cutoffs")
    run_dbt(
        database,
        ["build", "--select", *SNAPSHOTS.split(), "--exclude-resource-type", "test", "unit_test"],
        variables,
    )
    calendar = Calendar(as_of, PROPENSITY_HORIZON_DAYS, dataset.ltv_horizon_days)
    frames = {s: read_snapshot(database, s, "training") for s in ("customer", "cross_sell")}
    ltv_frame = frames["customer"]
    if dataset.ltv_test_cutoff:
        ltv_frame = ltv_frame[ltv_frame["cutoff_date"] <= dataset.ltv_test_cutoff]
    if dataset.ltv_train_horizon_days != dataset.ltv_horizon_days:
        # training rows from the same SQL with the shorter label window; test rows unchanged
        run_dbt(
            database,
            ["run", "--select", "int_calendar__cutoffs", "ml_training_snapshots"],
            {**variables, "ml_ltv_horizon_days": dataset.ltv_train_horizon_days},
        )
        short = read_snapshot(database, "customer", "training")
        ltv_frame = pd.concat(
            [
                short[short["cutoff_date"] < dataset.ltv_test_cutoff],
                ltv_frame[ltv_frame["cutoff_date"] == dataset.ltv_test_cutoff],
            ]
        )
    runs, expected = [], None
    for spec in SPECS.values():
        progress(f"[{name}] {spec.name}")
        frame = ltv_frame if spec.horizon == "ltv" else frames[spec.snapshot]
        scale = dataset.ltv_horizon_days / dataset.ltv_train_horizon_days
        run = train_and_evaluate(
            spec,
            frame,
            calendar,
            purge_days=dataset.ltv_train_horizon_days if spec.horizon == "ltv" else None,
            prediction_scale=scale if spec.horizon == "ltv" else 1.0,
            expected_ltv=expected if spec.name == "potential_ltv" else None,
        )
        if spec.name == "expected_ltv":
            expected = run.model
        runs.append(run)
    return dataset, runs


def comparisons(run: ModelRun) -> list[tuple[str, dict, dict]]:
    """(model, its metrics, {baseline: metrics}): the run itself, and churn risk if it has one."""
    out = [(run.spec.name, run.metrics, run.baselines)]
    if "churn_risk" in run.details:
        out.append(
            ("churn_risk", run.details["churn_risk"], {"rfm": run.details["churn_risk_rfm"]})
        )
    return out


def records(dataset: str, runs: list[ModelRun]) -> list[dict]:
    """One record per (model, metric, baseline): the --json format."""
    out = []
    for run in runs:
        for model, values, baselines in comparisons(run):
            for baseline, baseline_values in baselines.items():
                for metric, value in values.items():
                    out.append(
                        {
                            "dataset": dataset,
                            "model": model,
                            "metric": metric,
                            "value": round(value, 4),
                            "baseline": baseline,
                            "baseline_value": round(baseline_values.get(metric, float("nan")), 4),
                            "cutoff": str(run.test_cutoff),
                            "horizon_days": run.horizon_days,
                            "n_train": run.n_train,
                            "n_test": run.n_test,
                            "fit_seconds": round(run.fit_seconds, 2),
                            "baseline_fit_seconds": round(run.baseline_seconds.get(baseline, 0), 2),
                            "published": run.gate.passed,
                        }
                    )
    return out


HEADLINE_METRICS = {
    "classifier": ("roc_auc", "pr_auc", "top_decile_lift", "brier"),
    "tweedie": ("spearman", "normalized_gini", "decile_error"),
    "quantile": ("pinball_loss", "coverage"),
    "survival": ("c_index",),
}


def table(dataset: DatasetPlan, runs: list[ModelRun]) -> str:
    lines = [
        f"### {dataset.name}",
        "",
        f"Horizons: propensity {PROPENSITY_HORIZON_DAYS} days, LTV {dataset.ltv_horizon_days} days"
        + (
            f" (the model learns from {dataset.ltv_train_horizon_days}-day windows that close "
            "before the test cutoff, its revenue scaled to the horizon)"
            if dataset.ltv_train_horizon_days != dataset.ltv_horizon_days
            else ""
        ),
        "",
        "| model | test cutoff | train / test rows | metric | model | baseline | baseline value | fit s (model / baseline) |",
        "|---|---|---|---|---:|---|---:|---|",
    ]
    verdicts = []
    for run in runs:
        verdicts.append(
            f"- **{run.spec.name}**: "
            + ("published. " if run.gate.passed else "not published: ")
            + "; ".join(run.gate.reasons)
        )
        if run.model is None:
            continue
        for model, values, baselines in comparisons(run):
            for baseline, baseline_values in baselines.items():
                for metric in HEADLINE_METRICS[run.spec.kind]:
                    if metric not in values:
                        continue
                    lines.append(
                        f"| {model} | {run.test_cutoff} | {run.n_train:,} / {run.n_test:,} | "
                        f"{metric} | {values[metric]:.3f} | {baseline} | "
                        f"{baseline_values.get(metric, float('nan')):.3f} | "
                        f"{run.fit_seconds:.1f} / {run.baseline_seconds.get(baseline, 0):.1f} |"
                    )
    return "\n".join([*lines, "", *verdicts])


def headline(results: list[tuple[DatasetPlan, list[ModelRun]]]) -> str:
    """Each model's main metric beside its strongest baseline, per data set."""
    lines = [
        "| data set | model | main metric | model | strongest baseline | baseline | published |",
        "|---|---|---|---:|---|---:|---|",
    ]
    for dataset, runs in results:
        for run in runs:
            best = run.best_baseline
            if run.model is None or best is None:
                lines.append(
                    f"| {dataset.name} | {run.spec.name} | | | | | no: {run.gate.reasons[0]} |"
                )
                continue
            lines.append(
                f"| {dataset.name} | {run.spec.name} | {run.spec.main_metric} | "
                f"{run.metrics[run.spec.main_metric]:.3f} | {best[0]} | {best[1]:.3f} | "
                f"{'yes' if run.gate.passed else 'no'} |"
            )
    return "\n".join(lines)


def write_doc(head: str, tables: list[str], seconds: float) -> None:
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(
        "# Evaluation on real data\n\n"
        "Written by `nextsale evaluate` (`make evaluate`); do not edit by hand. Each model is "
        "trained on earlier monthly cutoffs whose label windows close before the test cutoff and "
        "judged on the latest cutoff with a complete label, beside its baselines fitted on the "
        "same rows. Higher is better except Brier, decile error and pinball loss. "
        "Published says whether the model passed its quality gate (beats every baseline on its "
        "main metric and clears its floor).\n\n## Headline\n\n"
        + head
        + "\n\n## Per data set\n\n"
        + "\n\n".join(tables)
        + f"\n\nTotal time: {seconds:.0f} s.\n"
    )


def evaluate(
    datasets: list[str],
    work_dir: Path,
    json_path: Path | None = None,
    sample: bool = False,
    source: Path = DEFAULT_SOURCE,
    write_docs: bool = True,
) -> list[dict]:
    started = time.perf_counter()
    all_records, tables, results = [], [], []
    for name in datasets:
        dataset, runs = evaluate_dataset(name, work_dir, source, sample)
        results.append((dataset, runs))
        tables.append(table(dataset, runs))
        print(tables[-1] + "\n", flush=True)
        all_records += records(name, runs)
    if json_path:
        json_path.write_text(json.dumps(all_records, indent=2))
    print(headline(results))
    if write_docs:
        write_doc(headline(results), tables, time.perf_counter() - started)
    return all_records
