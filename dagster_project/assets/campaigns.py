"""Closing the loop: each campaign's measured lift against its holdout, and the offer model
that learns from those campaigns who responds to which offer on which channel."""

from typing import Any

import dagster as dg
import pandas as pd

from dagster_project.assets import DAILY_FRESHNESS
from dagster_project.assets.dbt import dbt_model_key
from dagster_project.resources import WarehouseResource
from ml import artifacts, offers
from ml.lift import MIN_HOLDOUT, lift_table
from ml.score import write_table
from nextsale import charts
from nextsale.charts import rounded

CAMPAIGN_LIFT = dg.AssetKey(["scores", "campaign_lift"])
HOLDOUT_CHECK = "holdouts_can_measure_lift"


def lift_markdown(table: pd.DataFrame) -> str:
    """Conversion and revenue-per-member lift of each campaign and audience, all offers."""
    shown = table[
        (table["offer"] == "all offers")
        & table["measure"].isin(["conversion_rate", "revenue_per_member"])
    ]
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
    deps=[dbt_model_key("campaign_outcomes")],
    kinds={"python", "duckdb"},
    freshness_policy=DAILY_FRESHNESS,
    description="Per campaign and audience, for all offers and for each offer: conversion "
    "rate, revenue per member, AOV and incremental revenue of the people sent against the "
    "holdout, with 95 % stratified-bootstrap intervals (attribution windows that have ended).",
    check_specs=[
        dg.AssetCheckSpec(
            HOLDOUT_CHECK,
            asset=CAMPAIGN_LIFT,
            description=f"Every campaign audience's holdout can measure something: at least "
            f"{MIN_HOLDOUT} people, and a tripling of the conversion rate detectable (80 % "
            "power, 5 % level). Otherwise its lift is noise: the offer model's own gate judges "
            "what it learnt, and the run goes on.",
        )
    ],
)
def campaign_lift_asset(warehouse: WarehouseResource):
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
        + ". Their lift is not to be trusted: raise holdout_share in _audiences.yml or send to "
        "more people. Consent and the activation tables are rebuilt all the same.",
        metadata={"audiences_too_small": len(small)},
    )


OFFER_UPLIFT = dg.AssetKey(["models", offers.NAME])
OFFER_GATE = "beats_random_and_propensity_targeting"


def offer_card(run: offers.OfferRun, version: str) -> str:
    """The gate's verdict, the Qini comparison on the held-out campaign, and each arm's
    predicted uplift beside what that campaign measured."""
    verdict = "published" if run.passed else "**held back**"
    lines = [f"**{offers.NAME}** {version}, {verdict}: {'; '.join(run.reasons)}"]
    if run.targeting:
        lines += [
            "",
            f"Targeting {run.test_campaign} ({run.n_test:,} people sent or held out; learned "
            f"on {', '.join(run.train_campaigns)}):",
            "",
            "| scorer | Qini | 95 % CI | uplift top 30 % | 95 % CI |",
            "|---|---:|---|---:|---|",
            *(
                f"| {r['scorer']} | {r['qini']:.4f} | [{r['qini_ci'][0]:.4f}, {r['qini_ci'][1]:.4f}] "
                f"| {r['uplift_top_30']:.4f} | [{r['uplift_top_ci'][0]:.4f}, {r['uplift_top_ci'][1]:.4f}] |"
                for r in run.targeting
            ),
            "",
            *(
                [
                    "",
                    f"Qini minus propensity targeting's, over {', '.join(run.rolling['campaigns'])} "
                    "(each judged by a model learned on the campaigns before it): per campaign "
                    + ", ".join(
                        f"{m - b:+.4f}"
                        for m, b in zip(
                            run.rolling["model_values"], run.rolling["baseline_values"], strict=True
                        )
                    )
                    + f"; mean {run.rolling['difference']:+.4f} [{run.rolling['low']:+.4f}, "
                    f"{run.rolling['high']:+.4f}].",
                ]
                if run.rolling
                else []
            ),
            "",
            charts.markdown_image("Qini curves", charts.qini_chart(run.qini_curves)),
            "",
            "| offer | sent | predicted uplift | measured uplift |",
            "|---|---:|---:|---:|",
            *(
                f"| {r['arm']} | {r['sent']:,} | {r['predicted_uplift']:.4f} | {r['measured_uplift']:.4f} |"
                for r in run.arms
            ),
        ]
    return "\n".join(lines)


@dg.asset(
    key=OFFER_UPLIFT,
    group_name="ml",
    deps=[dbt_model_key("ml_campaign_snapshots"), CAMPAIGN_LIFT],
    kinds={"xgboost", "python"},
    description="Who is persuadable by which offer on which channel: an S-learner over past "
    "campaigns' sends and holdouts, learned on the earlier campaigns and judged by Qini on the "
    "latest against random, and on up to three latest campaigns against propensity targeting. "
    "next_best_offers picks with it.",
    check_specs=[
        dg.AssetCheckSpec(
            OFFER_GATE,
            asset=OFFER_UPLIFT,
            description="On the held-out campaign, the Qini of targeting by uplift is above "
            "random (95 % interval) and above propensity targeting's, not credibly below it; else not "
            "published and the offers keep the last published version. Credibly worse than "
            "random or propensity targeting is an error; too few campaigns or orders, or a "
            "Qini interval that still includes 0, a warning. The run goes on either way.",
        )
    ],
)
def offer_uplift_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    frame = offers.read_campaign_snapshots(warehouse.client())
    fingerprint = artifacts.inputs_fingerprint(frame, model=offers.NAME)
    reused = offers.reuse(warehouse.artifacts, fingerprint)
    if reused:
        version, run = reused
    else:
        run = offers.train_offer_model(frame)
        version, _ = offers.save(run, frame, warehouse.artifacts, fingerprint)
    said = "reused, its inputs are unchanged" if reused else "trained"
    context.log.info(f"{offers.NAME} {version} ({said}): {'; '.join(run.reasons)}")
    metadata: dict[str, Any] = {
        "model_vs_baselines": dg.MetadataValue.md(offer_card(run, version)),
        "version": version,
        "trained_this_run": not reused,
        "published": run.passed,
        "test_campaign": run.test_campaign or "none",
        "n_train": run.n_train,
        "n_test": run.n_test,
    }
    metadata |= {f"qini/{r['scorer']}": rounded(r["qini"]) for r in run.targeting}
    if run.rolling:  # uplift minus propensity targeting over the judged campaigns
        metadata |= {
            f"vs/propensity/{key}": rounded(run.rolling[key])
            for key in ("difference", "low", "high")
        } | {"judged_campaigns": ", ".join(run.rolling["campaigns"])}
    yield dg.MaterializeResult(metadata=metadata)
    yield dg.AssetCheckResult(
        check_name=OFFER_GATE,
        passed=run.passed,
        severity=dg.AssetCheckSeverity.ERROR if run.credibly_worse else dg.AssetCheckSeverity.WARN,
        description=None
        if run.passed
        else f"Held back {version}: {'; '.join(run.reasons)}. "
        + "Offers keep coming from the last published version, if any.",
        metadata={f"qini/{r['scorer']}": rounded(r["qini"]) for r in run.targeting},
    )
