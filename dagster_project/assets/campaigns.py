"""Closing the loop: each campaign's measured lift against its holdout."""

import dagster as dg
import pandas as pd

from dagster_project.automation import DAILY_FRESHNESS
from dagster_project.resources import Warehouse
from ml.lift import MIN_HOLDOUT, lift_table
from ml.score import write_table

CAMPAIGN_LIFT = dg.AssetKey(["scores", "campaign_lift"])
HOLDOUT_CHECK = "holdouts_can_measure_lift"


def lift_markdown(table: pd.DataFrame) -> str:
    """Conversion and revenue-per-member lift of each campaign and audience, all offers."""
    shown = table[(table["offer"] == "all offers") & table["measure"].isin(
        ["conversion_rate", "revenue_per_member"])]  # fmt: skip
    lines = [
        "| campaign | audience | measure | sent / holdout | sent | holdout | lift | 95 % CI |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r.campaign_id} | {r.audience} | {r.measure} | {r.sent:,} / {r.holdout:,} "
        f"| {r.treated_value:.4f} | {r.holdout_value:.4f} | {r.lift:+.4f} "
        f"| [{r.lift_low:.4f}, {r.lift_high:.4f}]{' **' if r.is_significant else ''} |"
        for r in shown.itertuples()
    ]
    return "\n".join(lines)


def too_small(table: pd.DataFrame) -> pd.DataFrame:
    rows = table[(table["offer"] == "all offers") & ~table["holdout_can_measure"]]
    return rows.drop_duplicates(["campaign_id", "audience"])


@dg.asset(
    key=CAMPAIGN_LIFT,
    group_name="activation",
    deps=[dg.AssetKey(["marts", "campaign_outcomes"])],
    kinds={"python", "duckdb"},
    freshness_policy=DAILY_FRESHNESS,
    description="Per campaign and audience, for all offers and for each offer: conversion "
    "rate, revenue per member, AOV and incremental revenue of the people sent against the "
    "holdout, with 95 % stratified-bootstrap intervals (attribution windows that have ended).",
    check_specs=[
        dg.AssetCheckSpec(
            HOLDOUT_CHECK,
            asset=CAMPAIGN_LIFT,
            blocking=True,
            description=f"Every campaign audience's holdout can measure something: at least "
            f"{MIN_HOLDOUT} people, and a tripling of the conversion rate detectable (80 % "
            "power, 5 % level). Otherwise its lift is noise, and what learns from it waits.",
        )
    ],
)
def campaign_lift_asset(warehouse: Warehouse):
    client = warehouse.client()
    outcomes = client.query("select * from marts.campaign_outcomes where is_window_complete")
    table = lift_table(outcomes)
    rows = write_table(client, "campaign_lift", table)
    small = too_small(table)
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "campaigns": int(table["campaign_id"].nunique()) if len(table) else 0,
            "lift": dg.MetadataValue.md(lift_markdown(table) if len(table) else "No campaigns."),
        }
    )
    yield dg.AssetCheckResult(
        check_name=HOLDOUT_CHECK,
        passed=small.empty,
        description=None
        if small.empty
        else f"{len(small)} campaign audiences have holdouts too small to measure a lift: "
        + "; ".join(
            f"{r.campaign_id} {r.audience} ({r.holdout:,} held out, could only see a "
            f"{r.detectable_conversion_lift:.1%} lift)"
            for r in small.itertuples()
        )
        + ". Their lift is not to be trusted, and this run stops before anything learns from "
        "it: raise holdout_share in _audiences.yml or send to more people.",
        metadata={"audiences_too_small": len(small)},
    )
