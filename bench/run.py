"""`make bench`: wall time and peak memory of each pipeline stage at growing scales.

Each stage runs in its own process (generate, ingest, dbt build, train, train the offer model,
score, the activation models, a dry-run sync of every destination), so its peak RSS is its own
(children included: dbt runs as a child). Generated data is cached per scale under
bench/data/<customers>/ and reused. Prints a table and writes bench/results.json: one record per
stage and scale, plus the sync diff alone (`sync_diff`, timed inside the dry run) and, from
training, the expected-LTV model beside pymc-marketing's BG/NBD + Gamma-Gamma on the same split
(`ltv`: fit time and accuracy).

    python bench/run.py 10000 100000 1000000
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
END_DATE = date(2026, 11, 1)
OUT = ROOT / "bench" / "results.json"


def plain_load(database: Path, landing: Path) -> None:
    """Every landing file into a typed table per contract with DuckDB's readers alone."""
    from nextsale.contracts import CONTRACTS
    from nextsale.ingest import csv_header, quote
    from nextsale.warehouse import connect_duckdb

    database.unlink(missing_ok=True)
    with connect_duckdb(database) as con:
        for contract in CONTRACTS:
            types = {c.name: c.type for c in contract.columns}
            for number, path in enumerate(contract.files(landing)):
                file = "'" + str(path).replace("'", "''") + "'"
                if path.name.endswith(".parquet"):
                    read = f"read_parquet({file})"
                elif ".csv" in path.name:
                    names = [h.strip().lower() for h in csv_header(path, path.name)]
                    columns = ", ".join(f"'{n}': '{types.get(n, 'VARCHAR')}'" for n in names)
                    read = f"read_csv({file}, header = true, columns = {{{columns}}}, ignore_errors = true)"
                else:
                    columns = ", ".join(f"'{n}': '{t}'" for n, t in types.items())
                    read = (
                        f"read_json({file}, format = 'newline_delimited', "
                        f"columns = {{{columns}}}, ignore_errors = true)"
                    )
                table = quote(contract.table)
                con.execute(
                    f"create table {table} as select * from {read}"
                    if number == 0
                    else f"insert into {table} by name select * from {read}"
                )


ACTIVATION = "tag:activation"
DESTINATIONS = (
    "source:scores.offer_reasons+"  # what reads the reasons (dagster_project/assets/dbt.py)
)


def dbt_build(database: Path, *args: str, variables: dict | None = None) -> dict:
    """`dbt build` on the warehouse at `database` with `variables` besides its own (unit tests
    are `make test`'s); returns dbt's run_results.json."""
    from nextsale.config import dbt_vars

    env = {**os.environ, "DO_NOT_TRACK": "1"}
    dbt = str(Path(sys.executable).parent / "dbt")
    subprocess.run(
        [
            dbt,
            "build",
            "--exclude-resource-type",
            "unit_test",
            *args,
            "--vars",
            json.dumps({**dbt_vars(database), **(variables or {})}),
            "--profiles-dir",
            ".",
            "--quiet",
        ],
        cwd=ROOT / "dbt_project",
        env=env,
        check=True,
    )
    return json.loads((ROOT / "dbt_project" / "target" / "run_results.json").read_text())


def slowest_models(run: dict) -> list:
    """dbt's own timing: which models the time went to."""
    timed = sorted(run["results"], key=lambda r: -r["execution_time"])
    return [[r["unique_id"].split(".")[-1], round(r["execution_time"], 1)] for r in timed[:12]]


def seconds_by_resource_type(run: dict) -> dict:
    """dbt's own timing summed by node type: how much of a build its data tests take."""
    seconds = Counter()
    for result in run["results"]:
        seconds[result["unique_id"].split(".")[0]] += result["execution_time"]
    return {kind: round(total, 1) for kind, total in seconds.most_common()}


def write_scores(database: Path, customers: int):
    """What the scores assets write, with the published version of every model: the scores,
    each model's status (audience_status reads it), the cross-sell candidates and the offer
    choices (dbt's next_best_offers ranks them, with the audiences); the models and the seconds
    of each part."""
    from ml import artifacts, offers
    from ml.score import cross_sell_candidates, customer_scores, offer_choices, write_table
    from ml.specs import SPECS

    started, parts = time.perf_counter(), {}
    saved = DATA / str(customers) / "artifacts"
    models = {n: artifacts.load(saved, n) for n in SPECS}
    write_table(database, "customer_scores", customer_scores(database, models))
    write_table(database, "model_status", artifacts.model_status(saved, [*SPECS, offers.NAME]))
    parts["customer_scores"] = time.perf_counter() - started
    candidates = cross_sell_candidates(database, models["cross_sell"])
    write_table(database, "cross_sell_candidates", candidates)
    parts["cross_sell_candidates"] = time.perf_counter() - started - sum(parts.values())
    write_table(database, "offer_choices", offer_choices(database, offers.load(saved)))
    parts["offer_choices"] = time.perf_counter() - started - sum(parts.values())
    return models, {k: round(v, 1) for k, v in parts.items()}


def activate(database: Path, customers: int) -> dict:
    """What the activation assets do: the next best offers and the audiences (dbt), the reasons
    for the people they send to (the offer_reasons asset), the destination tables (dbt); the
    seconds of each and the reasons' counts."""
    from ml import artifacts
    from ml.score import offer_reasons, write_table
    from ml.specs import OFFER_SPECS

    started, parts = time.perf_counter(), {}
    dbt_build(database, "--select", ACTIVATION, "--exclude", DESTINATIONS)
    parts["offers_and_audiences"] = time.perf_counter() - started
    saved = DATA / str(customers) / "artifacts"
    models = {s.name: artifacts.load(saved, s.name) for s in OFFER_SPECS}
    reasons = offer_reasons(database, models)
    write_table(database, "offer_reasons", reasons)
    parts["reasons"] = time.perf_counter() - started - sum(parts.values())
    dbt_build(database, "--select", DESTINATIONS)
    parts["destinations"] = time.perf_counter() - started - sum(parts.values())
    return {
        "parts": {k: round(v, 1) for k, v in parts.items()},
        "reasons": {n: int(reasons[f"{n}_reasons"].notna().sum()) for n in models}
        | {"people": len(reasons)},
        "trees": {n: m.booster.num_boosted_rounds() for n, m in models.items() if m},
    }


def agreement(model, frame) -> dict:
    """Exact TreeSHAP against approx_contribs on `frame`: top positive reason agreement."""
    matrix = model.dmatrix(frame)
    seconds, top = {}, {}
    for method, approx in (("exact", False), ("approx", True)):
        started = time.perf_counter()
        contributions = model.booster.predict(matrix, pred_contribs=True, approx_contribs=approx)
        contributions = contributions[:, :-1]  # the last column is the bias
        seconds[method] = round(time.perf_counter() - started, 1)
        top[method] = (contributions.argmax(axis=1), contributions.max(axis=1) > 0)
    explained = top["exact"][1]  # rows with a reason at all
    agree = top["exact"][0][explained] == top["approx"][0][explained]
    return {
        "rows": len(frame),
        "trees": model.booster.num_boosted_rounds(),
        "exact_s": seconds["exact"],
        "approx_s": seconds["approx"],
        "top_reason_agreement": round(float(agree.mean()), 4),
    }


def stage(name: str, customers: int) -> None:
    """Run one stage in this process and print its figures as JSON."""
    from nextsale.contracts import CONTRACTS
    from nextsale.ingest import ingest_table
    from nextsale.warehouse import duckdb_memory_limit
    from nextsale_lab.generate import generate

    landing = DATA / str(customers) / "landing"
    database = DATA / str(customers) / "warehouse.duckdb"
    extra: dict = {}  # figures a stage measures inside itself
    started = time.perf_counter()
    if name == "generate":
        # cached, unless the generator has since learned a source the cache lacks
        if not all(contract.files(landing) for contract in CONTRACTS):
            generate(landing, customers=customers, seed=42, end_date=END_DATE)
    elif name == "ingest":
        database.unlink(missing_ok=True)
        for contract in CONTRACTS:
            ingest_table(database, contract, landing)
    elif name == "plain_duckdb_load":
        # what ingestion is measured against: DuckDB's own readers loading the same files into
        # typed tables (its parallel reader, bad values skipped), with none of the guarantees
        plain_load(DATA / str(customers) / "plain.duckdb", landing)
    elif name == "dbt_build":
        # the warehouse first; the activation models read the scores, so they come after them
        extra["duckdb_memory_limit"] = duckdb_memory_limit()
        run = dbt_build(database, "--exclude", ACTIVATION)
        extra["slowest_models"] = slowest_models(run)
        extra["dbt_seconds_by_type"] = seconds_by_resource_type(run)
    elif name == "activation":
        extra |= activate(database, customers)
    elif name == "reasons_agreement":
        # may a cheaper approximation stand in? XGBoost's approx_contribs (Saabas) against exact
        # TreeSHAP on the rows offer_reasons explains (run activation first): how often their
        # top reason agrees, and the seconds of each
        from ml import artifacts
        from ml.score import rows_to_explain
        from ml.specs import OFFER_SPECS

        saved = DATA / str(customers) / "artifacts"
        models = {s.name: artifacts.load(saved, s.name) for s in OFFER_SPECS}
        sent, rows = rows_to_explain(database, models)
        extra["people"] = len(sent)
        for model_name, frame in rows.items():
            extra[model_name] = agreement(models[model_name], frame)
    elif name == "daily_increment":
        # one more day of landing files into the warehouse the full run left, then what a daily
        # run does: ingest it, build the warehouse keeping the identity history, score with the
        # published models, build the activation tables (run the full-run stages first)
        from nextsale_lab.next_day import next_day

        day = next_day(landing, DATA / str(customers) / "next_day")
        extra["day"] = {"date": day.day.isoformat(), "rows": day.rows}
        started = time.perf_counter()  # making the day's files is not part of the run
        parts = {}
        for contract in CONTRACTS:
            ingest_table(database, contract, DATA / str(customers) / "next_day")
        parts["ingest"] = time.perf_counter() - started
        run = dbt_build(
            database,
            "--selector",
            "daily_warehouse",
            variables={"refresh_history": False},
        )
        parts["dbt_build"] = time.perf_counter() - started - sum(parts.values())
        extra["slowest_models"] = slowest_models(run)
        extra["dbt_seconds_by_type"] = seconds_by_resource_type(run)
        write_scores(database, customers)
        parts["score"] = time.perf_counter() - started - sum(parts.values())
        activation = activate(database, customers)
        parts |= {f"activation_{k}": v for k, v in activation.pop("parts").items()}
        extra["parts"] = {k: round(v, 1) for k, v in parts.items()}
        extra["reasons"] = activation["reasons"]
    elif name == "dry_run_sync":
        # every destination planned from scratch: the diff plus every request written as a file
        import shutil
        import tempfile

        import duckdb

        from nextsale.sync import DESTINATIONS, sync

        with duckdb.connect(str(database)) as con:
            con.execute("drop schema if exists sync cascade")
        diff_seconds = 0.0
        for destination in DESTINATIONS:
            out = Path(tempfile.mkdtemp())
            result = sync(destination, database, env={}, dry_run_dir=out)
            shutil.rmtree(out)
            diff_seconds += result.log["diff_s"]
            print(
                f"{destination}: diff {result.log['diff_s']:.2f} s, "
                f"{result.log['requests']:,} requests planned",
                file=sys.stderr,
            )
        extra["sync_diff_seconds"] = diff_seconds
    elif name == "train":
        # every model, with its baselines, as the Dagster assets train them
        from ml import artifacts
        from ml.data import read_calendar, read_snapshot
        from ml.specs import SPECS
        from ml.train import train_and_evaluate

        calendar = read_calendar(database)
        frames = {s: read_snapshot(database, s, "training") for s in ("customer", "cross_sell")}
        for spec in SPECS.values():
            run = train_and_evaluate(spec, frames[spec.snapshot], calendar)
            saved = artifacts.save(run, DATA / str(customers) / "artifacts")
            if spec.name == "expected_ltv":
                extra["ltv"] = {
                    "train_rows": run.n_train,
                    "test_rows": run.n_test,
                    "xgboost_fit_s": run.fit_seconds,
                    "xgboost": run.metrics,
                    "bgnbd_fit_s": run.baseline_seconds.get("bgnbd_gamma_gamma"),
                    "bgnbd": run.baselines.get("bgnbd_gamma_gamma"),
                }
            print(
                f"{spec.name}: fit {run.fit_seconds:.1f} s, published {saved.published}",
                file=sys.stderr,
            )
    elif name == "train_offers":
        # the offer model on the campaign snapshots, learned and judged as the asset does
        from ml import offers

        frame = offers.read_campaign_snapshots(database)
        run = offers.train_offer_model(frame)
        offers.save(run, frame, DATA / str(customers) / "artifacts")
        extra["offer_uplift"] = {
            "train_rows": run.n_train,
            "test_rows": run.n_test,
            "passed": run.passed,
            "qini": run.qini("uplift"),
        }
        print(f"offer_uplift: {'; '.join(run.reasons)}", file=sys.stderr)
    elif name == "score":
        models, extra["parts"] = write_scores(database, customers)
        extra["trees"] = {n: m.booster.num_boosted_rounds() for n, m in models.items() if m}
    elif name in ("score_1m_rows", "explain_1m_rows"):
        # model work alone on 1,000,000 person rows (this scale's snapshot, tiled): every
        # published model's prediction, or the upsell reasons (exact TreeSHAP), as scoring does
        import pandas as pd

        from ml import artifacts
        from ml.data import read_snapshot
        from ml.explain import top_reasons
        from ml.specs import SPECS

        snapshot = read_snapshot(database, "customer", "scoring")
        rows = pd.concat([snapshot] * (1_000_000 // len(snapshot) + 1)).head(1_000_000)
        rows = rows.reset_index(drop=True)
        models = {n: artifacts.load(DATA / str(customers) / "artifacts", n) for n in SPECS}
        extra["trees"] = {n: m.booster.num_boosted_rounds() for n, m in models.items() if m}
        started = time.perf_counter()  # reading is the warehouse's part, not scoring
        if name == "score_1m_rows":
            for model_name, model in models.items():
                if model is not None and SPECS[model_name].snapshot == "customer":
                    model.predict(rows[SPECS[model_name].eligible(rows)])
        elif models["upsell"] is not None:
            top_reasons(models["upsell"], rows[SPECS["upsell"].eligible(rows)])
    # the stage's Python process and the largest of its children (dbt) apart: which one peaks
    own_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    seconds = time.perf_counter() - started
    peaks = {
        "peak_rss_mb": max(own_kb, children_kb) / 1024,
        "peak_rss_python_mb": own_kb / 1024,
        "peak_rss_children_mb": children_kb / 1024,
    }
    print(json.dumps({"seconds": seconds, **peaks, **extra}))


STAGES = (
    "generate",
    "plain_duckdb_load",
    "ingest",
    "dbt_build",
    "train",
    "train_offers",
    "score",
    "activation",
    "reasons_agreement",
    "dry_run_sync",
    "score_1m_rows",
    "explain_1m_rows",
    "daily_increment",
)


def main(scales: list[int], stages: tuple[str, ...] = STAGES) -> None:
    """Run `stages` at every scale. Re-running some stages replaces their records in the last
    results and keeps the others (the data and warehouse they need are cached)."""
    kept = json.loads(OUT.read_text()) if stages != STAGES and OUT.exists() else []
    redone = {(n, c) for n in stages for c in scales}
    if "dry_run_sync" in stages:  # the sync diff is timed inside the dry run
        redone |= {("sync_diff", c) for c in scales}
    results = [r for r in kept if (r["stage"], r["customers"]) not in redone]
    for customers in scales:
        for name in stages:
            done = subprocess.run(
                [sys.executable, __file__, "--stage", name, str(customers)],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            if done.returncode:
                sys.exit(
                    f"{name} at {customers:,} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
                )
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            if "sync_diff_seconds" in figures:
                seconds = figures.pop("sync_diff_seconds")
                results.append(
                    {
                        "stage": "sync_diff",
                        "customers": customers,
                        "seconds": seconds,
                        "peak_rss_mb": figures["peak_rss_mb"],
                    }
                )
            results.append({"stage": name, "customers": customers, **figures})
            print(
                f"{name:<16} {customers:>10,} customers {figures['seconds']:>9.1f} s "
                f"{figures['peak_rss_mb']:>9.0f} MB peak RSS",
                flush=True,
            )
            # written after every stage: a long run that fails late keeps what it measured
            order = {name: i for i, name in enumerate(STAGES)}
            order["sync_diff"] = order["dry_run_sync"] + 0.5
            results.sort(key=lambda r: (r["customers"], order.get(r["stage"], 99)))
            OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    if sys.argv[1] == "--stage":
        stage(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "--only":  # --only ingest,train 10000 100000
        main([int(a) for a in sys.argv[3:]], tuple(sys.argv[2].split(",")))
    else:
        main([int(a) for a in sys.argv[1:]])
