"""The `nextsale` command. Materialising is Dagster's (the UI, the schedule,
`dg launch`); `nextsale materialize` runs it from a terminal and says what
happens in words."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import click

from nextsale.config import Settings
from nextsale.sync.destinations import DESTINATIONS


@click.group(
    help="nextsale: upsell and cross-sell scores from your warehouse.\n\n"
    "`nextsale materialize` runs the whole pipeline through Dagster (as `make demo`, the UI "
    "and the schedule do). Configuration comes from "
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
    from nextsale_lab.generate import already_generated
    from nextsale_lab.generate import generate as run_generate

    out = out or Settings.from_env().landing_dir
    day = end_date.date() if end_date else None
    if already_generated(out, customers, seed, day):
        click.echo(
            f"{out} already holds these {customers:,} people (seed {seed}, this generator, "
            "every file unchanged): nothing written, so ingestion finds nothing new."
        )
        return
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
    help="Map a real data set onto the landing contracts.\n\n"
    "DATASET is online-retail, cdnow or completejourney, read from --source (the shared data "
    "folder beside the repository, else what `nextsale datasets fetch` wrote). Then "
    "materialise with NEXTSALE_LANDING_DIR=DIR.\n\n"
    "Example: nextsale import online-retail --out data/online-retail",
)
@click.argument("dataset", type=click.Choice(["online-retail", "cdnow", "completejourney"]))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--source",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the data sets [default: ../shared/data beside the repository if there, "
    "else data/datasets].",
)
@click.option("--sample", is_flag=True, help="Import a small slice (for quick checks and tests).")
def import_(dataset: str, out: Path, source: Path | None, sample: bool) -> None:
    from nextsale_lab.importers import DEFAULT_SOURCE, import_dataset

    try:
        summary = import_dataset(dataset, out, source or DEFAULT_SOURCE, sample=sample)
    except FileNotFoundError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"Wrote {dataset} to {out}:")
    for table, rows in summary.rows.items():
        click.echo(f"  {table:<24} {rows:>12,} rows")


@main.group(
    help="The public data sets the evaluations and the real-data path run on.\n\n"
    "Example: nextsale datasets fetch cdnow --out data/datasets"
)
def datasets() -> None:
    pass


@datasets.command(
    "fetch",
    help="Download a public data set from its publisher, convert it where its format needs "
    "it, check every file's sha256 and write it under --out, where `nextsale import --source` "
    "reads it. NAME is online-retail, cdnow, completejourney or hillstrom.\n\n"
    "Example: nextsale datasets fetch online-retail && nextsale import online-retail "
    "--source data/datasets --out data/online-retail",
)
@click.argument(
    "name", type=click.Choice(["online-retail", "cdnow", "completejourney", "hillstrom"])
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/datasets"),
    show_default=True,
)
@click.option("--base-url", default=None, help="Fetch from this mirror (same paths) instead.")
def datasets_fetch(name: str, out: Path, base_url: str | None) -> None:
    from nextsale_lab.datasets import FetchError, fetch_dataset

    try:
        written = fetch_dataset(name, out, base_url)
    except FetchError as e:
        raise click.ClickException(str(e)) from None
    for path, size in written.items():
        click.echo(f"  {out / path}  ({size:,} bytes, sha256 checked)")


RETAIL_DATASETS = ["online-retail", "cdnow", "completejourney", "generated"]
UPLIFT_DATASETS = ["hillstrom", "completejourney-campaigns", "generated-campaigns"]


@main.command(
    help="Materialise assets through Dagster, in this process, saying what happens: each stage "
    "as it ends with its rows and time, and at the end what was held back and why. The run is "
    "kept in the warehouse's Dagster home (DAGSTER_HOME, by default beside the warehouse), so "
    "`make ui` shows it.\n\n"
    "Example: NEXTSALE_LANDING_DIR=data/online-retail NEXTSALE_DUCKDB_PATH="
    "data/online-retail.duckdb nextsale materialize"
)
@click.option(
    "--select",
    "selection",
    default="*",
    show_default=True,
    help="Dagster asset selection, for example 'not group:sync' or 'group:activation'.",
)
@click.option(
    "--as-of",
    "as_of_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Compute marts and features as of this day [default: the day after the latest order].",
)
@click.option(
    "--dry-run-syncs",
    is_flag=True,
    help="Sync assets plan and write their requests only, even where a vendor token is set.",
)
@click.option(
    "--rebuild",
    is_flag=True,
    help="Run dbt even where nothing its models read has changed since their last build "
    "(by default that build is reported again, marked as reused).",
)
def materialize(selection: str, as_of_date, dry_run_syncs: bool, rebuild: bool) -> None:
    from dagster_project.dbt import prepare_manifest

    prepare_manifest(only_if_missing=True)  # the definitions read it as they are imported
    from dagster_project.materialize import closing_lines
    from dagster_project.materialize import materialize as run_materialize

    account = run_materialize(
        Settings.from_env(),
        selection,
        as_of_date=f"{as_of_date:%Y-%m-%d}" if as_of_date else "",
        dry_run_syncs=dry_run_syncs,
        rebuild=rebuild,
        # the terminal, bound now: while the run goes, dbt's own output is sent to a log file
        echo=functools.partial(click.echo, file=sys.stdout),
    )
    for line in closing_lines(account):
        click.echo(line)
    if not account.success:
        sys.exit(1)


@main.command(
    help="Print rows per warehouse layer, what ingestion quarantined and why, each model's "
    "latest gate result and the last sync per destination.\n\n"
    "Example: NEXTSALE_DUCKDB_PATH=data/warehouse.duckdb nextsale summary"
)
def summary() -> None:
    import duckdb

    from nextsale.warehouse import in_use_message

    settings = Settings.from_env()
    try:
        _summary(settings)
    except FileNotFoundError as e:
        raise click.ClickException(str(e)) from e
    except duckdb.Error as e:
        message = in_use_message(e, settings.duckdb_path)
        if message is None:
            raise
        raise click.ClickException(message) from None


def _summary(settings: Settings) -> None:
    import duckdb

    from ml import offers
    from ml.artifacts import latest_manifest, published_version
    from ml.specs import SPECS
    from nextsale.provenance import generated_landing
    from nextsale.summary import format_summary, read_summary

    click.echo(f"Warehouse: {settings.duckdb_path}")
    click.echo(format_summary(read_summary(settings.duckdb_path)))

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
    # generated people only, and the generator's truth for the landing folder they came from
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        landing = generated_landing(con)
    truth = Path(landing) / "_ground_truth" if landing else None
    if truth is not None and truth.is_dir():  # say how well identities were resolved
        from nextsale_lab.identity_quality import measure_identity

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
    from nextsale_lab import evaluate_campaigns, evaluate_uplift
    from nextsale_lab.evaluate import evaluate as run_evaluation
    from nextsale_lab.importers import DEFAULT_SOURCE

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


def _credentials(destination) -> str:
    """A destination's variables as the help names them: the host first where it is per account."""
    needed = (destination.base_url_env[-1],) if destination.base_url_required else ()
    return " + ".join((*needed, destination.token_env))


@main.command(
    help=f"Sync an activation table to its destination ({', '.join(DESTINATIONS)}): only "
    "rows new or changed since the last successful sync, erased people deleted.\n\n"
    "Credentials come from the environment "
    f"({', '.join(_credentials(d) for d in DESTINATIONS.values())}). Without them, or with "
    "--dry-run, nothing is sent: each planned request is written to --out as a JSON file.\n\n"
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
        self.bar: Any = None  # click's progress bar, once the plan says how many

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
