"""The Dagster code location (workspace.yaml): nextsale's assets, checks and automation."""

from __future__ import annotations

import os

import dagster as dg
from dagster_dbt import DbtCliResource

from dagster_project.assets.campaigns import campaign_lift_asset, offer_uplift_asset
from dagster_project.assets.dbt import nextsale_dbt_activation, nextsale_dbt_models
from dagster_project.assets.ingest import ingest_assets
from dagster_project.assets.models import (
    customer_scores_asset,
    model_assets,
    next_best_offers_asset,
)
from dagster_project.assets.sync import audiences_not_empty, sync_assets, sync_destinations
from dagster_project.automation import all_assets_job, build_daily_schedule, build_landing_sensor
from dagster_project.dbt import dbt_project
from dagster_project.resources import Warehouse
from nextsale.config import Settings
from nextsale.sync import DESTINATIONS


def build_definitions(settings: Settings) -> dg.Definitions:
    settings.export_for_dbt()
    configured = [n for n, d in DESTINATIONS.items() if os.environ.get(d.token_env)]
    schedule = build_daily_schedule(configured)
    return dg.Definitions(
        assets=[
            *ingest_assets,
            nextsale_dbt_models,
            *model_assets,
            customer_scores_asset,
            next_best_offers_asset,
            nextsale_dbt_activation,
            campaign_lift_asset,
            offer_uplift_asset,
            *sync_assets,
        ],
        asset_checks=[audiences_not_empty],
        jobs=[all_assets_job],
        schedules=[schedule],
        sensors=[build_landing_sensor(settings.landing_dir)],
        resources={
            "warehouse": Warehouse(
                duckdb_path=str(settings.duckdb_path),
                landing_dir=str(settings.landing_dir),
                artifacts_dir=str(settings.artifacts_dir),
                dbt_target=settings.dbt_target,
            ),
            "dbt": DbtCliResource(project_dir=dbt_project, target=settings.dbt_target),
            **sync_destinations(dict(os.environ)),
        },
        # DuckDB has one writer: steps run one after another in the run's own process.
        executor=dg.in_process_executor,
    )


defs = build_definitions(Settings.from_env())
