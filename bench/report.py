"""Write docs/benchmarks.md (and the plot beside it) from the figures the last `make bench` wrote:
bench/results.json (every stage at every scale) and bench/sync_results.json (the sync engine).
Nothing in the page is typed by hand.

    python bench/report.py
"""

from __future__ import annotations

import json
import platform
from datetime import date
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LTV_METRICS = ("normalized_gini", "spearman", "decile_error")


def stage_table(results: list[dict]) -> str:
    scales = sorted({r["customers"] for r in results})
    stages = list(dict.fromkeys(r["stage"] for r in results))
    figures = {(r["stage"], r["customers"]): r for r in results}
    head = "| stage | " + " | ".join(f"{s:,} customers" for s in scales) + " |"
    rule = "|---|" + "---:|" * len(scales)
    rows = []
    for stage in stages:
        cells = []
        for scale in scales:
            r = figures.get((stage, scale))
            if r and stage == "generate" and r["seconds"] < 1:
                cells.append("cached")  # sample data is generated once per scale and reused
                continue
            cap = r and r.get("duckdb_memory_limit") not in (None, "default")
            cells.append(
                f"{r['seconds']:,.1f} s · {r['peak_rss_mb'] / 1024:,.1f} GiB"
                + (f" (DuckDB capped at {r['duckdb_memory_limit']})" if cap else "")
                if r
                else ""
            )
        rows.append(f"| {stage} | " + " | ".join(cells) + " |")
    return "\n".join([head, rule, *rows])


def slopes(results: list[dict]) -> str:
    """Per stage, the slope of log(seconds) on log(customers) over every scale measured: 1.0
    grows linearly with customers, below it sub-linearly (fixed costs, capped samples)."""
    scales = sorted({r["customers"] for r in results})
    if len(scales) < 2:
        return "One scale only: no growth to report."
    lines = []
    for stage in dict.fromkeys(r["stage"] for r in results):
        if stage.endswith("_1m_rows") or stage == "generate":
            continue  # a fixed 1M rows whatever the scale; sample data is cached between runs
        points = [(r["customers"], r["seconds"]) for r in results if r["stage"] == stage]
        points = [(c, t) for c, t in points if t > 0]
        if len(points) < 2:
            continue
        x, y = np.log([c for c, _ in points]), np.log([t for _, t in points])
        lines.append(f"| {stage} | {np.polyfit(x, y, 1)[0]:.2f} | {len(points)} |")
    return (
        "Slope of log(seconds) on log(customers) per stage (1.00 is linear, above it worse):"
        "\n\n| stage | slope | scales |\n|---|---:|---:|\n" + "\n".join(lines)
    )


def ingestion_ratio(results: list[dict]) -> str:
    """Ingestion against DuckDB's own typed load of the same files, in the same run."""
    figures = {(r["stage"], r["customers"]): r["seconds"] for r in results}
    rows = [
        f"| {c:,} | {figures[('ingest', c)]:,.1f} s | {figures[('plain_duckdb_load', c)]:,.1f} s "
        f"| {figures[('ingest', c)] / figures[('plain_duckdb_load', c)]:.2f} |"
        for c in sorted({r["customers"] for r in results})
        if ("ingest", c) in figures and figures.get(("plain_duckdb_load", c))
    ]
    if not rows:
        return ""
    return (
        "Ingestion (every guarantee: line reconciliation, quarantine with reasons, file log) "
        "against `plain_duckdb_load` (DuckDB's `read_csv`/`read_json`/`read_parquet` into "
        "typed tables, bad values skipped, nothing checked), same files, same run; goal: "
        "within 1.5x.\n\n| customers | ingest | plain DuckDB load | ratio |\n|---:|---:|---:|---:|\n"
        + "\n".join(rows)
    )


def run_table(results: list[dict], stages: tuple[str, ...], title: str) -> str:
    """One run at the largest scale that has all of `stages`: time and peak memory per stage."""
    scales = [
        c
        for c in sorted({r["customers"] for r in results})
        if all(any(r["stage"] == s and r["customers"] == c for r in results) for s in stages)
    ]
    if not scales:
        return ""
    top = scales[-1]
    at = {r["stage"]: r for r in results if r["customers"] == top}
    rows = [
        f"| {s} | {at[s]['seconds']:,.1f} s | {at[s]['peak_rss_mb'] / 1024:,.1f} GiB |"
        for s in stages
    ]
    total = sum(at[s]["seconds"] for s in stages)
    peak = max(at[s]["peak_rss_mb"] for s in stages) / 1024
    return (
        f"{title} at {top:,} customers:\n\n| stage | time | peak RSS |\n|---|---:|---:|\n"
        + "\n".join(rows)
        + f"\n| **all** | **{total / 60:,.1f} min** | **{peak:,.1f} GiB** |"
    )


def daily_table(results: list[dict]) -> str:
    """The daily run (one new day of landing files, `daily_increment`) at its largest scale:
    its parts, as the stage timed them, and the stage's peak memory."""
    daily = [r for r in results if r["stage"] == "daily_increment"]
    if not daily:
        return ""
    run = max(daily, key=lambda r: r["customers"])
    rows = [f"| {part} | {seconds:,.1f} s |" for part, seconds in run.get("parts", {}).items()]
    rows_in = ", ".join(f"{n:,} {t}" for t, n in run.get("day", {}).get("rows", {}).items())
    return (
        f"The daily run at {run['customers']:,} customers (one new day: {rows_in}):\n\n"
        "| part | time |\n|---|---:|\n"
        + "\n".join(rows)
        + f"\n| **all** | **{run['seconds'] / 60:,.1f} min**, peak RSS "
        f"{run['peak_rss_mb'] / 1024:,.1f} GiB |"
    )


def records(results: list[dict]) -> list[dict]:
    """docs/benchmarks.json: the figures without the Markdown."""
    return [
        {
            "stage": r["stage"],
            "customers": r["customers"],
            "seconds": round(r["seconds"], 2),
            "peak_rss_gib": round(r["peak_rss_mb"] / 1024, 3),
        }
        for r in results
    ]


def plot(results: list[dict], out: Path) -> None:
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for stage in dict.fromkeys(r["stage"] for r in results):
        if stage == "generate":
            continue  # cached between runs: its time is not the generator's
        points = sorted((r["customers"], r["seconds"]) for r in results if r["stage"] == stage)
        axes.plot(*zip(*points, strict=True), marker="o", label=stage)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("customers")
    axes.set_ylabel("wall time (s)")
    axes.set_title("make bench: time per stage against customers")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=110)


PIPELINE = ("ingest", "dbt_build", "train", "train_offers", "score", "activation")


def goals(results: list[dict]) -> str:
    """The issue's goals at the largest scale, met or not, from the same figures."""
    top = max(r["customers"] for r in results)
    at = {r["stage"]: r for r in results if r["customers"] == top}
    if not all(s in at for s in PIPELINE):
        return ""
    seconds = sum(at[s]["seconds"] for s in PIPELINE)
    peak = max(at[s]["peak_rss_mb"] for s in PIPELINE) / 1024
    rows = [
        (
            f"landing files to activation tables ({' + '.join(PIPELINE)})",
            f"{seconds / 60:,.1f} min",
            "under 15 min",
            seconds < 15 * 60,
        ),
        ("peak memory of any of those stages", f"{peak:,.1f} GiB", "under 8 GiB", peak < 8),
    ]
    reasons = at["activation"].get("parts", {}).get("reasons")
    if reasons is not None:
        s = at["score"]["seconds"] + reasons
        explained = at["activation"].get("reasons", {})
        rows.append(
            (
                f"scoring with reasons (score + the reasons of activation: "
                f"{explained.get('people', 0):,} people an audience sends to, exact TreeSHAP)",
                f"{s:,.1f} s",
                "under 60 s",
                s < 60,
            )
        )
    for model in ("cross_sell", "upsell"):
        if model in at.get("reasons_agreement", {}):
            a = at["reasons_agreement"][model]
            rows.append(
                (
                    f"{model} reasons by approx_contribs ({a['approx_s']:,.1f} s against "
                    f"{a['exact_s']:,.1f} s exact, {a['rows']:,} rows, {a['trees']} trees): "
                    "the top reason agrees with exact TreeSHAP",
                    f"{a['top_reason_agreement']:.1%}",
                    "at least 95 % to be used",
                    a["top_reason_agreement"] >= 0.95,
                )
            )
    if "score_1m_rows" in at:
        s = at["score_1m_rows"]["seconds"]
        rows.append(
            ("scoring 1M people, every model's prediction", f"{s:,.1f} s", "under 60 s", s < 60)
        )
    if "explain_1m_rows" in at:
        s = at["explain_1m_rows"]["seconds"]
        rows.append(("the upsell reasons for 1M people (exact TreeSHAP)", f"{s:,.1f} s", "", None))
    lines = [f"At {top:,} customers:", "", "| what | measured | goal | met |", "|---|---:|---|---|"]
    for what, measured, goal, met in rows:
        lines.append(
            f"| {what} | {measured} | {goal} | {'' if met is None else 'yes' if met else 'no'} |"
        )
    return "\n".join(lines)


def slowest_models(results: list[dict]) -> str:
    """dbt's own timing of the build at the largest scale: where the time goes."""
    builds = [r for r in results if r["stage"] == "dbt_build" and r.get("slowest_models")]
    if not builds:
        return ""
    build = max(builds, key=lambda r: r["customers"])
    rows = "\n".join(f"| {name} | {seconds:,.1f} s |" for name, seconds in build["slowest_models"])
    return (
        f"The slowest dbt nodes at {build['customers']:,} customers (dbt's run_results.json), of "
        f"{build['seconds']:,.0f} s in all:\n\n| model or test | time |\n|---|---:|\n{rows}"
    )


def ltv_section(results: list[dict]) -> str:
    """Our expected-LTV model beside BG/NBD + Gamma-Gamma, fitted in the same training run."""
    lines = [
        "Both are fitted on the same purged time split and judged on the same test cutoff "
        "(the same code as `make evaluate`): normalised Gini and Spearman rank the customers, "
        "decile error compares predicted with actual revenue per decile (lower is better).",
        "",
        "| customers | train rows | XGBoost fit | BG/NBD + GG fit | Gini (XGBoost / BG/NBD) "
        "| Spearman | decile error |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if r["stage"] != "train" or not r.get("ltv") or not r["ltv"].get("bgnbd"):
            continue
        ltv = r["ltv"]
        pair = {k: f"{ltv['xgboost'][k]:.3f} / {ltv['bgnbd'][k]:.3f}" for k in LTV_METRICS}
        lines.append(
            f"| {r['customers']:,} | {ltv['train_rows']:,} | {ltv['xgboost_fit_s']:.1f} s "
            f"| {ltv['bgnbd_fit_s']:.1f} s | {pair['normalized_gini']} | {pair['spearman']} "
            f"| {pair['decile_error']} |"
        )
    return "\n".join(lines)


def offers_section(results: list[dict]) -> str:
    """The offer model at each scale: learned on the earlier campaigns, judged on the latest."""
    lines = [
        "| customers | train rows | test rows | time | Qini (uplift) | published |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        if r["stage"] == "train_offers" and r.get("offer_uplift"):
            offer = r["offer_uplift"]
            lines.append(
                f"| {r['customers']:,} | {offer['train_rows']:,} | {offer['test_rows']:,} "
                f"| {r['seconds']:,.1f} s | {offer['qini']:.4f} | {'yes' if offer['passed'] else 'no'} |"
            )
    return "\n".join(lines)


def sync_section(sync: dict) -> str:
    diff = sync["diff"]
    lines = [
        f"Diff of {diff['rows']:,} rows against the last synced state: "
        f"{diff['first_sync_diff_s']:.2f} s with nothing synced yet, "
        f"{diff['one_percent_changed_diff_s']:.2f} s after 1 % changed "
        f"({diff['changed_rows_found']:,} found).",
        "",
        "| vendor | server checks the spec | in flight | records | records/s | of the steady ceiling | of the exact ceiling |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for key, t in sync.items():
        if key == "diff":
            continue
        exact = f"{t['fraction_of_exact_ceiling']:.1%}" if t["fraction_of_exact_ceiling"] else ""
        lines.append(
            f"| {t['vendor']} | {'yes' if t['requests_checked_against_spec'] else 'no'} | "
            f"{t['in_flight']} | {t['records']:,} | {t['records_per_s']:,} | "
            f"{t['fraction_of_steady_ceiling']:.1%} of {t['steady_ceiling_records_per_s']:,}/s | {exact} |"
        )
    return "\n".join(lines)


def main() -> None:
    results = json.loads((ROOT / "bench" / "results.json").read_text())
    sync_path = ROOT / "bench" / "sync_results.json"
    DOCS.mkdir(exist_ok=True)
    plot(results, DOCS / "benchmarks.png")
    parts = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` on {date.today()} ({platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}); every figure comes "
        "from `bench/results.json` and `bench/sync_results.json` of that run (a stage "
        "re-measured with `bench/run.py --only` replaces its own rows). Each stage runs in its "
        "own process; memory is its peak RSS (dbt's included). `score_1m_rows` and "
        "`explain_1m_rows` run each scale's models on a fixed 1,000,000 rows.",
        "",
        stage_table(results),
        "",
        goals(results),
        "",
        "![time per stage against customers](benchmarks.png)",
        "",
        slopes(results),
        "",
        ingestion_ratio(results),
        "",
        run_table(results, PIPELINE, "The full run (landing files to activation tables)"),
        "",
        daily_table(results),
        "",
        slowest_models(results),
        "",
        "## Expected LTV: XGBoost against BG/NBD + Gamma-Gamma (pymc-marketing)",
        "",
        ltv_section(results),
        "",
        "## Offer model (S-learner over the campaigns)",
        "",
        offers_section(results),
    ]
    if sync_path.exists():
        parts += ["", "## Sync engine", "", sync_section(json.loads(sync_path.read_text()))]
    (DOCS / "benchmarks.md").write_text("\n".join(parts) + "\n")
    (DOCS / "benchmarks.json").write_text(json.dumps(records(results), indent=2) + "\n")
    print(f"wrote {DOCS / 'benchmarks.md'}")


if __name__ == "__main__":
    main()
