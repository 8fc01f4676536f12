"""When the graph runs: a daily schedule, and a sensor for new landing files."""

import hashlib
from datetime import timedelta
from pathlib import Path

import dagster as dg

from nextsale.contracts import CONTRACTS

# The schedule refreshes everything daily: an output a person acts on that is older than a day
# and two hours means a run failed or stopped, and the UI shows it overdue.
DAILY_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26))

all_assets_job = dg.define_asset_job(
    "materialize_everything",
    selection=dg.AssetSelection.all(),
    description="Ingest every landing file, then build every dbt model and its tests.",
)


def build_daily_schedule(configured: list[str]) -> dg.ScheduleDefinition:
    """Refresh everything daily; the syncs only once a destination has credentials, so that a
    fresh install never sends anything on its own (`configured`: destinations with a token)."""
    if configured:
        job, what = all_assets_job, f"the whole graph, syncs to {', '.join(configured)} included"
    else:
        job = dg.define_asset_job(
            "refresh_without_syncs",
            selection=dg.AssetSelection.all() - dg.AssetSelection.groups("sync"),
            description="Ingest, build, score and activate; no destination is configured yet.",
        )
        what = "everything but the syncs (no destination has credentials)"
    return dg.ScheduleDefinition(
        name="daily_refresh",
        job=job,
        cron_schedule="0 6 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Refresh {what} every day at 06:00 UTC.",
    )


def landing_fingerprint(landing_dir: Path) -> str:
    """Changes when a landing file of any contract is added, removed or rewritten."""
    digest = hashlib.sha256()
    for contract in CONTRACTS:
        for path in contract.files(landing_dir):
            stat = path.stat()
            digest.update(
                f"{path.relative_to(landing_dir)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode()
            )
    return digest.hexdigest()


def build_landing_sensor(landing_dir: Path) -> dg.SensorDefinition:
    @dg.sensor(
        name="new_landing_files",
        job=all_assets_job,
        minimum_interval_seconds=60,
        description=f"Starts a run when files under {landing_dir} are added or changed.",
    )
    def new_landing_files(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        fingerprint = landing_fingerprint(landing_dir)
        if fingerprint == context.cursor:
            return dg.SkipReason("No new or changed landing files.")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=fingerprint)], cursor=fingerprint
        )

    return new_landing_files
