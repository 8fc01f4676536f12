"""`nextsale evaluate`: the models against their baselines on real data.

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
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ml.compare import BOOTSTRAP_ROUNDS
from ml.data import Calendar, read_snapshot
from ml.specs import SPECS
from ml.train import ROLLING_ORIGINS, ModelRun, train_and_evaluate
from nextsale.config import DBT_PROJECT_DIR, REPO_ROOT, dbt_vars
from nextsale.contracts import CONTRACTS
from nextsale.ingest import ingest_table
from nextsale_lab.generate import generate
from nextsale_lab.importers import DEFAULT_SOURCE, import_dataset

GENERATED = "generated"  # the sample shop of `nextsale generate`, beside the real sets
GENERATED_END = date(2026, 11, 1)
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
    env = {**os.environ, "DO_NOT_TRACK": "1"}
    dbt = Path(sys.executable).parent / "dbt"
    variables = {**dbt_vars(database), **variables}
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


@dataclass
class PreparedDataset:
    """A data set's snapshot frames, ready for every model: what `judge_dataset` trains on."""

    plan: DatasetPlan
    calendar: Calendar
    frames: dict[str, pd.DataFrame]  # by snapshot
    ltv_frame: pd.DataFrame  # the customer snapshot with the LTV labels the plan asks for


def prepare_dataset(
    name: str,
    work_dir: Path,
    source: Path = DEFAULT_SOURCE,
    sample: bool = False,
    progress: Callable[[str], None] = print,
) -> PreparedDataset:
    """Import, ingest and build the snapshots of one data set in `work_dir`."""
    landing, database = work_dir / name / "landing", work_dir / name / "warehouse.duckdb"
    database.unlink(missing_ok=True)
    progress(f"[{name}] importing and ingesting")
    if name == GENERATED:
        # the sample shop, with a fixed seed and end date so every run judges the same data
        generate(landing, customers=1_500 if sample else 5_000, seed=7, end_date=GENERATED_END)
    else:
        import_dataset(name, landing, source, sample=sample)
    for contract in CONTRACTS:
        ingest_table(database, contract, landing)
    first, as_of = _order_span(database)
    dataset = plan(name, first, as_of)
    variables: dict[str, Any] = {
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
    return PreparedDataset(dataset, calendar, frames, ltv_frame)


def judge_dataset(
    prepared: PreparedDataset, progress: Callable[[str], None] = print
) -> tuple[DatasetPlan, list[ModelRun]]:
    """Every model beside its baselines at the data set's rolling test cutoffs."""
    dataset, calendar, frames, ltv_frame = (
        prepared.plan,
        prepared.calendar,
        prepared.frames,
        prepared.ltv_frame,
    )
    name = dataset.name
    runs = []
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
        )
        runs.append(run)
    return dataset, runs


def comparisons(run: ModelRun) -> list[tuple[str, list[dict], dict[str, list[dict]]]]:
    """(model, its metrics per test cutoff, {baseline: metrics per cutoff}), latest cutoff
    first: the run itself, and churn risk (judged on the latest cutoff) if it has one."""
    out = [
        (
            run.spec.name,
            [f.metrics for f in run.folds],
            {name: [f.baselines[name] for f in run.folds] for name in run.baselines},
        )
    ]
    if "churn_risk" in run.details:
        out.append(
            ("churn_risk", [run.details["churn_risk"]], {"rfm": [run.details["churn_risk_rfm"]]})
        )
    if "headroom" in run.details:  # judged on the latest cutoff against realised growth
        found = run.details["headroom"]
        keys = ("spearman_with_growth", "top_decile_growth_usd", "bottom_decile_growth_usd")
        out.append(
            (
                "headroom",
                [{key: found[key] for key in keys}],
                {"segment_median_gap": [{key: found[f"baseline_{key}"] for key in keys}]},
            )
        )
    return out


def _main_interval(run: ModelRun, model: str, metric: str, baseline: str) -> dict | None:
    """The paired interval behind a gate decision, if this (model, metric, baseline) has one:
    the model's main metric against a baseline, or headroom's ranking of realised growth."""
    if model == "headroom" and metric == "spearman_with_growth":
        return run.details["headroom"]
    comparison = run.comparisons.get(baseline)
    if model == run.spec.name and metric == run.spec.main_metric and comparison:
        return comparison.as_dict()
    return None


def _mean(values: list[dict], metric: str) -> float:
    found = [v.get(metric, float("nan")) for v in values]
    return float(np.mean(found)) if found else float("nan")


def records(dataset: str, runs: list[ModelRun]) -> list[dict]:
    """One record per (model, metric, baseline): the --json format. `value` and
    `baseline_value` are the latest test cutoff's; `mean`, `baseline_mean` and the per-cutoff
    lists cover every rolling test cutoff; the main metric adds the paired interval."""
    out = []
    for run in runs:
        cutoffs = [str(f.test_cutoff) for f in run.folds]
        for model, values, baselines in comparisons(run):
            for baseline, baseline_values in baselines.items():
                for metric, value in values[0].items():
                    record = {
                        "dataset": dataset,
                        "model": model,
                        "metric": metric,
                        "value": round(value, 4),
                        "baseline": baseline,
                        "baseline_value": round(baseline_values[0].get(metric, float("nan")), 4),
                        "cutoff": str(run.test_cutoff),
                        "horizon_days": run.horizon_days,
                        "n_train": run.n_train,
                        "n_test": run.n_test,
                        "fit_seconds": round(run.fit_seconds, 2),
                        "baseline_fit_seconds": round(run.baseline_seconds.get(baseline, 0), 2),
                        "published": run.gate.passed,
                        "cutoffs": cutoffs[: len(values)],
                        "values_per_cutoff": [round(v.get(metric, np.nan), 4) for v in values],
                        "baseline_values_per_cutoff": [
                            round(v.get(metric, np.nan), 4) for v in baseline_values
                        ],
                        "mean": round(_mean(values, metric), 4),
                        "baseline_mean": round(_mean(baseline_values, metric), 4),
                    }
                    found = _main_interval(run, model, metric, baseline)
                    if found:
                        record |= {
                            "difference": round(found["difference"], 4),
                            "difference_low": round(found["low"], 4),
                            "difference_high": round(found["high"], 4),
                            "credibly_better": found["credibly_better"],
                        }
                    out.append(record)
    return out


HEADLINE_METRICS = {
    "classifier": ("roc_auc", "pr_auc", "top_decile_lift", "brier"),
    "tweedie": ("spearman", "normalized_gini", "decile_error", "total_ratio"),
    "peer_quantile": (
        "pinball_loss",
        "coverage",
        "spearman_with_growth",
        "top_decile_growth_usd",
        "bottom_decile_growth_usd",
    ),
    "survival": ("c_index",),
}


def _interval(run: ModelRun, model: str, metric: str, baseline: str) -> str:
    c = _main_interval(run, model, metric, baseline)
    return f"{c['difference']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]" if c else ""


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
        "| model | test cutoffs | train / test rows (latest) | metric | model (mean) | baseline "
        "| baseline (mean) | difference [95 % interval] | per cutoff, latest first (model / "
        "baseline) |",
        "|---|---|---|---|---:|---|---:|---|---|",
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
        cutoffs = ", ".join(str(f.test_cutoff) for f in run.folds)
        for model, values, baselines in comparisons(run):
            for baseline, baseline_values in baselines.items():
                for metric in HEADLINE_METRICS[run.spec.kind]:
                    if metric not in values[0]:
                        continue
                    main = model == run.spec.name and metric == run.spec.main_metric
                    per_cutoff = ", ".join(
                        f"{m.get(metric, np.nan):.3f} / {b.get(metric, np.nan):.3f}"
                        for m, b in zip(values, baseline_values, strict=True)
                    )
                    lines.append(
                        f"| {model} | {cutoffs if model == run.spec.name else run.test_cutoff} | "
                        f"{run.n_train:,} / {run.n_test:,} | {'**' + metric + '**' if main else metric} | "
                        f"{_mean(values, metric):.3f} | {baseline} | "
                        f"{_mean(baseline_values, metric):.3f} | "
                        f"{_interval(run, model, metric, baseline)} | {per_cutoff} |"
                    )
    return "\n".join([*lines, "", *verdicts])


def headline(results: list[tuple[DatasetPlan, list[ModelRun]]]) -> str:
    """Each model's main metric beside its strongest baseline (means over the rolling test
    cutoffs, and the paired interval of the difference), per data set."""
    lines = [
        "| data set | model | main metric | test cutoffs | model | strongest baseline | baseline "
        "| difference [95 % interval] | published |",
        "|---|---|---|---:|---:|---|---:|---|---|",
    ]
    for dataset, runs in results:
        for run in runs:
            best = run.best_baseline
            if run.model is None or best is None:
                lines.append(
                    f"| {dataset.name} | {run.spec.name} | | | | | | | no: {run.gate.reasons[0]} |"
                )
                continue
            comparison = run.comparisons[best[0]]
            lines.append(
                f"| {dataset.name} | {run.spec.name} | {run.spec.main_metric} | "
                f"{len(run.folds)} | {comparison.model_mean:.3f} | {best[0]} | {best[1]:.3f} | "
                f"{_interval(run, run.spec.name, run.spec.main_metric, best[0])} | "
                f"{'yes' if run.gate.passed else 'no'} |"
            )
    return "\n".join(lines)


def write_doc(head: str, tables: list[str], seconds: float) -> None:
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(
        "# Evaluation on real data\n\n"
        "Written by `nextsale evaluate` (`make evaluate`); do not edit by hand. Rolling origin: "
        f"each model is judged at up to {ROLLING_ORIGINS} test cutoffs (the latest with a "
        "complete label and the months before it), each time refitted on the earlier monthly "
        "cutoffs whose label windows close before that test cutoff, beside its baselines "
        "fitted on the same rows. Means are over the test cutoffs; the interval is a paired "
        f"bootstrap ({BOOTSTRAP_ROUNDS} resamples of people, the same draw at every cutoff) "
        "of the mean difference model - baseline on the main metric. Higher is better except "
        "Brier, decile error and pinball loss; total ratio is predicted over actual revenue. "
        "Published says whether the model passed its quality gate: better than every "
        "baseline on average with the whole interval on the better side of 0, and its floor "
        "on the latest cutoff.\n\n## Headline\n\n"
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
        dataset, runs = judge_dataset(prepare_dataset(name, work_dir, source, sample))
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
