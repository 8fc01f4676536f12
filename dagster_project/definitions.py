"""The Dagster code location (workspace.yaml): nextsale's assets, checks and automation."""

from __future__ import annotations

import os

import dagster as dg

from dagster_project.assets.campaigns import campaign_lift_asset, offer_uplift_asset
from dagster_project.assets.dbt import (
    nextsale_dbt_activation,
    nextsale_dbt_destinations,
    nextsale_dbt_models,
)
from dagster_project.assets.ingest import ingest_assets
from dagster_project.assets.models import (
    build_model_assets,
    cross_sell_candidates_asset,
    customer_scores_asset,
    offer_choices_asset,
    offer_reasons_asset,
)
from dagster_project.assets.sync import audiences_not_empty, sync_assets, sync_destinations
from dagster_project.automation import build_jobs, build_landing_sensor, build_schedules
from dagster_project.dbt import dbt_cli
from dagster_project.resources import WarehouseResource
from nextsale.config import Settings
from nextsale.sync import DESTINATIONS

TOKENS = {d.token_env for d in DESTINATIONS.values()}


def build_definitions(settings: Settings, dry_run_syncs: bool = False) -> dg.Definitions:
    """The code location; with `dry_run_syncs` the syncs ignore the vendor tokens set (the
    demo's generated people never reach a real account, and its sync pages still show a run)."""
    environ = dict(os.environ)
    if dry_run_syncs:
        environ = {k: v for k, v in environ.items() if k not in TOKENS}
    configured = [n for n, d in DESTINATIONS.items() if environ.get(d.token_env)]
    daily, weekly = build_jobs(configured)
    return dg.Definitions(
        assets=[
            *ingest_assets,
            nextsale_dbt_models,
            *build_model_assets(settings.artifacts_dir),
            customer_scores_asset,
            cross_sell_candidates_asset,
            offer_choices_asset,
            nextsale_dbt_activation,
            offer_reasons_asset,
            nextsale_dbt_destinations,
            campaign_lift_asset,
            offer_uplift_asset,
            *sync_assets,
        ],
        asset_checks=[audiences_not_empty],
        jobs=[daily, weekly],
        schedules=build_schedules(daily, weekly),
        sensors=[build_landing_sensor(settings.landing_dir, daily)],
        resources={
            "warehouse": WarehouseResource.from_settings(settings),
            "dbt": dbt_cli(settings),
            **sync_destinations(environ),
        },
        # DuckDB has one writer: steps run one after another in the run's own process.
        executor=dg.in_process_executor,
    )


defs = build_definitions(Settings.from_env())
