"""The `nextsale` command: what is not Dagster's own job (DESIGN §8).

Materialising assets is Dagster's: `dagster asset materialize`, the UI, the schedule.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nextsale.config import Settings
from nextsale.sync.destinations import DESTINATIONS


@click.group(
    help="nextsale: upsell and cross-sell scores from your warehouse.\n\n"
    "These commands do what is not Dagster's job; materialising assets is Dagster's "
    "(`make demo`, `make ui`, `dagster asset materialize`). Configuration comes from "
    "NEXTSALE_* environment variables or a .env file (README 'Where things land').\n\n"
    "Example (after `make demo`): nextsale summary && nextsale report",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
def main() -> None:
    pass


@main.command(
    help="Write sample landing files (CRM, web, shop) for N people, with a ground truth.\n\n"
    "Example: nextsale generate --customers 10000 --seed 42 --out data/landing"
)
@click.option("--customers", default=10_000, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=42, show_default=True, type=int)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Landing folder to write [default: $NEXTSALE_LANDING_DIR or data/landing].",
)
@click.option(
    "--end-date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Last day of history [default: today]. Output is deterministic for "
    "(customers, seed, end date).",
)
def generate(customers: int, seed: int, out: Path | None, end_date) -> None:
    from nextsale.generate import generate as run_generate

    out = out or Settings.from_env().landing_dir
    with click.progressbar(length=customers, label="Generating people", file=sys.stderr) as bar:
        summary = run_generate(
            out,
            customers=customers,
            seed=seed,
            end_date=end_date.date() if end_date else None,
            progress=bar.update,
        )
    click.echo(f"Wrote {out} in {summary.seconds:.1f}s (history to {summary.end_date}):")
    for table, rows in summary.rows.items():
        click.echo(f"  {table:<24} {rows:>12,} rows")
    planted = sum(n for kinds in summary.dirty_rows.values() for n in kinds.values())
    click.echo(f"  planted dirty rows: {planted:,} (see {out / '_ground_truth' / 'summary.json'})")


@main.command(
    "import",
    help="Map a real data set from shared/data onto the landing contracts.\n\n"
    "DATASET is online-retail, cdnow or completejourney. Then materialise as usual with "
    "NEXTSALE_LANDING_DIR=DIR.\n\n"
    "Example: nextsale import online-retail --out data/online-retail",
)
@click.argument("dataset", type=click.Choice(["online-retail", "cdnow", "completejourney"]))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--source",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the data sets [default: ../shared/data beside the repository].",
)
@click.option("--sample", is_flag=True, help="Import a small slice (for quick checks and tests).")
def import_(dataset: str, out: Path, source: Path | None, sample: bool) -> None:
    from nextsale.importers import DEFAULT_SOURCE, import_dataset

    try:
        summary = import_dataset(dataset, out, source or DEFAULT_SOURCE, sample=sample)
    except FileNotFoundError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"Wrote {dataset} to {out}:")
    for table, rows in summary.rows.items():
        click.echo(f"  {table:<24} {rows:>12,} rows")


RETAIL_DATASETS = ["online-retail", "cdnow", "completejourney"]
UPLIFT_DATASETS = ["hillstrom", "completejourney-campaigns", "generated-campaigns"]


@main.command(
    help="Print rows per warehouse layer, what ingestion quarantined and why, each model's "
    "latest gate result and the last sync per destination.\n\n"
    "Example: NEXTSALE_DUCKDB_PATH=data/warehouse.duckdb nextsale summary"
)
def summary() -> None:
    from nextsale.summary import format_summary, read_summary

    settings = Settings.from_env()
    try:
        click.echo(f"Warehouse: {settings.duckdb_path}")
        click.echo(format_summary(read_summary(settings.duckdb_path)))
    except FileNotFoundError as e:
        raise click.ClickException(str(e)) from e
    from ml import offers
    from ml.artifacts import latest_manifest, published_version
    from ml.specs import SPECS

    lines = []
    for name, spec in SPECS.items():
        latest = latest_manifest(settings.artifacts_dir, name)
        if latest is None:
            continue
        value = (latest["metrics"] or {}).get(spec.main_metric)
        score = f"{spec.main_metric} {value:.3f}" if value is not None else ""
        lines.append(
            f"  {name:<22} {score:<24} published: "
            f"{published_version(settings.artifacts_dir, name) or 'none'} "
            f"({'; '.join(latest['gate']['reasons'])})"
        )
    offer = latest_manifest(settings.artifacts_dir, offers.NAME)
    if offer is not None:
        qini = next((r["qini"] for r in offer["targeting"] if r["scorer"] == "uplift"), None)
        score = f"qini {qini:.4f}" if qini is not None else ""
        published = published_version(settings.artifacts_dir, offers.NAME)
        lines.append(
            f"  {offers.NAME:<22} {score:<24} published: {published or 'none'} "
            f"({'; '.join(offer['gate']['reasons'])})"
        )
    if lines:
        click.echo("Models (latest run; the published version is what scores):")
        click.echo("\n".join(lines))
    truth = settings.landing_dir / "_ground_truth"
    if truth.is_dir():  # generated sample data: say how well identities were resolved
        from nextsale.identity_quality import measure_identity

        q = measure_identity(settings.duckdb_path, truth)
        click.echo(
            f"Identity graph vs the generator's truth ({q.identifiers:,} identifiers): "
            f"precision {q.precision:.4f}, recall {q.recall:.4f} "
            f"({q.linkable_recall:.4f} of the pairs the data can link), "
            f"largest person {q.largest_component} identifiers"
        )


@main.command(
    help="Train and judge every model against its baselines on the real data sets in "
    "../shared/data (README 'Real data sets') and write docs/evaluation.md; judge the uplift "
    "models on Hillstrom's randomised e-mail experiment against random and propensity "
    "targeting and write docs/uplift.md; estimate Complete Journey's 27 campaigns against "
    "comparable households (observational) and write docs/campaigns.md; judge the offer model "
    "against the planted truth of generated campaigns and write docs/offers.md. Each step is "
    "printed as it starts.\n\n"
    "Example: nextsale evaluate --dataset cdnow --dataset hillstrom"
)
@click.option(
    "--dataset",
    "datasets",
    multiple=True,
    type=click.Choice(UPLIFT_DATASETS + RETAIL_DATASETS),
    help="Evaluate only these (default: all).",
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--source",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder holding the data sets (default: ../shared/data).",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/evaluate"),
    show_default=True,
    help="Where each data set's landing files and warehouse are built.",
)
@click.option("--sample", is_flag=True, help="Small slices (a quick check; no docs written).")
def evaluate(
    datasets: tuple[str, ...],
    json_path: Path | None,
    source: Path | None,
    work_dir: Path,
    sample: bool,
) -> None:
    from nextsale import evaluate_campaigns, evaluate_uplift
    from nextsale.evaluate import evaluate as run_evaluation
    from nextsale.importers import DEFAULT_SOURCE

    if not (source or DEFAULT_SOURCE).is_dir():
        raise click.ClickException(
            f"no data sets at {source or DEFAULT_SOURCE}: pass --source DIR, or see README "
            "'Real data sets'"
        )
    chosen = list(datasets) or RETAIL_DATASETS + UPLIFT_DATASETS
    retail = [d for d in chosen if d in RETAIL_DATASETS]
    if retail:
        run_evaluation(
            retail,
            work_dir.resolve(),
            json_path,
            sample=sample,
            source=source or DEFAULT_SOURCE,
            write_docs=not sample,
        )
    if "hillstrom" in chosen:
        try:
            evaluate_uplift.run(
                source or DEFAULT_SOURCE,
                json_path.with_name(f"{json_path.stem}-uplift.json") if json_path else None,
                sample=sample,
                write_docs=not sample,
            )
        except FileNotFoundError as e:
            raise click.ClickException(str(e)) from e
    campaigns = [d for d in chosen if d.endswith("-campaigns")]
    if campaigns:
        evaluate_campaigns.run(
            campaigns,
            source or DEFAULT_SOURCE,
            work_dir.resolve(),
            json_path.with_name(f"{json_path.stem}-campaigns.json") if json_path else None,
            sample=sample,
            write_docs=not sample,
        )


@main.command(
    help="List the destinations nextsale can sync to, one per line (the one registry: "
    "nextsale.sync.DESTINATIONS).\n\n"
    "Example: for d in $(nextsale destinations); do nextsale sync $d --dry-run; done"
)
def destinations() -> None:
    for name in DESTINATIONS:
        click.echo(name)


@main.command(
    help="Sync an activation table to its destination (hubspot, klaviyo or salesforce): only "
    "rows new or changed since the last successful sync, erased people deleted.\n\n"
    "Credentials come from the environment (HUBSPOT_ACCESS_TOKEN, KLAVIYO_API_KEY, "
    "SALESFORCE_INSTANCE_URL + SALESFORCE_ACCESS_TOKEN). Without them, or with --dry-run, "
    "nothing is sent: each planned request is written to --out as a JSON file.\n\n"
    "Example: nextsale sync hubspot --dry-run --out data/dry-run/hubspot"
)
@click.argument("destination", type=click.Choice(list(DESTINATIONS)))
@click.option("--dry-run", is_flag=True, help="Plan the requests and write them; send nothing.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where a dry run writes its requests [default: $NEXTSALE_ARTIFACTS_DIR/sync/DEST/dry-run].",
)
@click.option(
    "--mirror",
    is_flag=True,
    help="Also delete people who left the table, and let an audience with nobody sendable "
    "empty the lists; only from a published build whose consent is current.",
)
def sync(destination: str, dry_run: bool, out: Path | None, mirror: bool) -> None:
    import logging
    import os
    import shutil

    from nextsale.sync import SyncError
    from nextsale.sync import sync as run_sync
    from nextsale.sync.engine import destination_for
    from nextsale.warehouse import pull_schema

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    target = destination_for(destination)
    if not dry_run and target.token is None:
        click.echo(
            f"{target.token_env} is not set: planning a dry run, nothing will be sent. Set it "
            "to sync for real (README 'Connecting the destinations').",
            err=True,
        )
    if dry_run or target.token is None:
        out = out or settings.artifacts_dir / "sync" / destination / "dry-run"
        shutil.rmtree(out, ignore_errors=True)  # a dry run's folder holds that run's plan only
    else:
        out = None
    try:
        # the engine diffs in the DuckDB file; on a server target it gets the tables first
        pull_schema(settings.warehouse(), settings.duckdb_path, "activation")
        with SyncProgress(destination) as progress:
            result = run_sync(
                destination,
                settings.duckdb_path,
                env=os.environ,
                dry_run_dir=out,
                mirror=mirror,
                progress=None if out else progress,
            )
    except SyncError as e:
        raise click.ClickException(
            f"{e}\nEach run is in sync.log and each refused record in sync.failures (README "
            "'When a sync fails')."
        ) from e
    click.echo(format_sync(result.log, out))
    for failure in result.failures[:10]:
        click.echo(f"  failed {failure['record_key']}: {failure['message']}")


@main.command(
    help="Write one self-contained HTML page: segment sizes and value, each model against its "
    "baselines with lift and calibration charts, LTV and headroom, audiences with their "
    "holdouts, and the last sync per destination. Open it in any browser; it needs no network.\n\n"
    "Example: nextsale report --out data/artifacts/report.html"
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the page [default: $NEXTSALE_ARTIFACTS_DIR/report.html].",
)
def report(out: Path | None) -> None:
    from nextsale.report import write_report

    settings = Settings.from_env()
    if settings.dbt_target == "duckdb" and not settings.duckdb_path.exists():
        raise click.ClickException(
            f"no warehouse at {settings.duckdb_path}: run `make demo` first, or set "
            "NEXTSALE_DUCKDB_PATH (README 'Where things land')"
        )
    path = write_report(settings, out or settings.artifacts_dir / "report.html")
    click.echo(f"Report: {path.resolve()}")


class SyncProgress:
    """A progress bar over the records a sync confirms; it starts once the plan says how many."""

    def __init__(self, destination: str):
        self.label = f"Syncing {destination}"
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def __enter__(self) -> SyncProgress:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def format_sync(log: dict, out: Path | None) -> str:
    line = (
        f"{log['destination']}: {log['rows_in_table']:,} rows, {log['planned_upserts']:,} to "
        f"upsert, {log['planned_deletes']:,} to delete"
    )
    if out is not None:
        return f"{line}; dry run: {log['requests']:,} requests planned in {out}"
    return (
        f"{line}; sent {log['sent']:,}, failed {log['failed']:,}, deleted {log['deleted']:,} in "
        f"{log['requests']:,} requests ({log['retried']:,} retried) in {log['duration_s']:.1f}s "
        f"[{log['status']}, run {log['run_id']}]"
    )


if __name__ == "__main__":
    main()
