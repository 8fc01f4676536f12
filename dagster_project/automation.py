"""When the graph runs: daily scoring with the published models, a weekly retraining of every
model (and of the identity history they learn from), and a sensor for new landing files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from dagster_dbt import build_dbt_asset_selection

from dagster_project.assets.dbt import nextsale_dbt_models
from nextsale.contracts import CONTRACTS

if TYPE_CHECKING:  # what define_asset_job returns; Dagster exports no name for it
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

all_assets_job = dg.define_asset_job(
    "materialize_everything",
    selection=dg.AssetSelection.all(),
    description="Ingest every landing file, then build every dbt model and its tests.",
)

# What only training reads or writes: the models (each trains, is judged and maybe published)
# and the dbt models tagged `training` (the training snapshots). The daily run leaves them out
# and scores with the published versions; its dbt step keeps the identity history already
# built (macros/history.sql).
TRAINING = dg.AssetSelection.key_prefixes(["models"]) | build_dbt_asset_selection(
    [nextsale_dbt_models], dbt_select="tag:training"
)
DAILY_DBT_CONFIG = {"ops": {"nextsale_dbt_models": {"config": {"refresh_history": False}}}}
SYNCS = dg.AssetSelection.groups("sync")


def build_jobs(configured: list[str]) -> tuple[UnresolvedAssetJobDefinition, ...]:
    """The daily scoring job and the weekly one that also retrains; the syncs only once a
    destination has credentials, so that a fresh install never sends anything on its own
    (`configured`: destinations with a token)."""
    syncs = dg.AssetSelection.all() if configured else dg.AssetSelection.all() - SYNCS
    what = f"syncs to {', '.join(configured)}" if configured else "no sync (no credentials yet)"
    daily = dg.define_asset_job(
        "score_daily",
        selection=syncs - TRAINING,
        config=DAILY_DBT_CONFIG,
        description="Ingest new landing files, build the warehouse (the identity history kept), "
        f"score with the published models, build the activation tables; {what}.",
    )
    if configured:
        return daily, all_assets_job
    weekly = dg.define_asset_job(
        "refresh_without_syncs",
        selection=syncs,
        description="Ingest, build, retrain, score and activate; no destination is configured yet.",
    )
    return daily, weekly


def build_schedules(
    daily: UnresolvedAssetJobDefinition, weekly: UnresolvedAssetJobDefinition
) -> list[dg.ScheduleDefinition]:
    """Scores every day at 06:00 UTC (`daily`); every model retrained, and the identity history
    rebuilt, on Sundays at 03:00 UTC, before that day's scores (`weekly`)."""
    return [
        dg.ScheduleDefinition(
            name="daily_refresh",
            job=daily,
            cron_schedule="0 6 * * *",
            execution_timezone="UTC",
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Score with the published models every day at 06:00 UTC: "
            f"{daily.description}",
        ),
        dg.ScheduleDefinition(
            name="weekly_retrain",
            job=weekly,
            cron_schedule="0 3 * * 0",
            execution_timezone="UTC",
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Retrain every model and rebuild the identity history on Sundays at "
            f"03:00 UTC: {weekly.description}",
        ),
    ]


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


def build_landing_sensor(
    landing_dir: Path, job: UnresolvedAssetJobDefinition
) -> dg.SensorDefinition:
    """New landing files start `job` (the daily scoring: they are scored with the published
    models; the weekly schedule retrains on them)."""

    @dg.sensor(
        name="new_landing_files",
        job=job,
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
