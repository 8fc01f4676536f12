"""Real campaigns without a holdout: The Complete Journey's 27 (`nextsale evaluate --dataset
completejourney-campaigns`, docs/campaigns.md).

84.51° mailed coupon campaigns to chosen households and kept nobody back. The households a
campaign went to were chosen, and chosen for how they shop, so the naive difference (what they
spent minus what everyone else spent) measures the choice as much as the campaign. Each
campaign is therefore compared with households that were not sent it but shopped like the ones
that were, up to its first day: the same features (customer_features, campaign_history) the
models use, as of that day. The estimate is inverse-probability-weighted regression adjustment
(statsmodels' TreatmentEffect.ipw_ra, doubly robust: right if either the model of who was sent
or the model of spend is right) of the effect on the households sent (ATT), with its standard
error from the joint GMM; the balance of every feature before and after weighting is reported.

What it can show: whether the households sent spent more in the four weeks after the campaign
started than comparable households did, given everything their history says. What it cannot:
anything about reasons for sending that the history does not show (a store's local promotion,
a household flagged by a call-centre), which would bias it either way; and it is the effect of
the whole mailing (coupons, the attention, the timing) on spend, not of a coupon on a product.
A randomised holdout answers the same question without those assumptions: that is why nextsale
keeps one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from statsmodels.discrete.discrete_model import Logit
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.sm_exceptions import PerfectSeparationError
from statsmodels.treatment.treatment_effects import TreatmentEffect

from nextsale.contracts import CONTRACTS
from nextsale.evaluate import run_dbt
from nextsale.importers import DEFAULT_SOURCE, import_dataset
from nextsale.ingest import ingest_table

DOC = Path(__file__).resolve().parents[1] / "docs" / "campaigns.md"
DATASET = "completejourney"
WINDOW_DAYS = 28  # four weekly shops: most of the 27 campaigns run four to six weeks
MIN_HISTORY_DAYS = 56  # eight weeks of shopping before a campaign to compare households on
# pre-campaign history: what the choice of households could have depended on
COVARIATES = ("orders_count", "revenue_usd", "orders_last_90d", "revenue_last_90d_usd",
              "recency_days", "average_order_value_usd", "tenure_days", "categories_bought",
              "discounted_order_share", "past_campaign_sends")  # fmt: skip
SKEWED = ("orders_count", "revenue_usd", "orders_last_90d", "revenue_last_90d_usd",
          "average_order_value_usd", "recency_days")  # fmt: skip


def covariates(frame: pd.DataFrame) -> pd.DataFrame:
    """Standardised history, skewed amounts on a log scale; never bought: recency of a year."""
    x = frame[list(COVARIATES)].astype(float).copy()
    x["recency_days"] = x["recency_days"].fillna(365)
    x = x.fillna(0)
    for column in SKEWED:
        x[column] = np.log1p(x[column].clip(lower=0))
    spread = x.std().replace(0, 1)
    return (x - x.mean()) / spread


def balance(x: pd.DataFrame, treated: np.ndarray, weights: np.ndarray) -> float:
    """The largest absolute standardised mean difference between the sent and the (weighted)
    comparison households over the covariates; below 0.1 is the usual bar for 'comparable'."""
    sent, other = x[treated], x[~treated]
    w = weights[~treated] / weights[~treated].sum()
    spread = np.sqrt((sent.var() + other.var()) / 2).replace(0, 1)
    return float(((sent.mean() - (other * w[:, None]).sum()) / spread).abs().max())


def estimate(frame: pd.DataFrame) -> dict:
    """One campaign: sent against not sent, on spend in the window (ATT by IPW-RA)."""
    treated = (frame["treatment"] == "sent").to_numpy()
    y = frame["label_revenue_usd"].to_numpy(dtype=float)
    x = covariates(frame)
    design = np.column_stack([np.ones(len(x)), x.to_numpy()])
    row = {
        "sent": int(treated.sum()),
        "not_sent": int((~treated).sum()),
        "spend_sent": float(y[treated].mean()),
        "spend_not_sent": float(y[~treated].mean()),
        "naive_difference": float(y[treated].mean() - y[~treated].mean()),
        "imbalance_before": balance(x, treated, np.ones(len(x))),
    }
    try:
        selection = Logit(treated.astype(float), design).fit(disp=False, maxiter=200)
        effect = TreatmentEffect(OLS(y, design), treated.astype(int), results_select=selection)
        result = effect.ipw_ra(effect_group=1).summary_frame()
    except (np.linalg.LinAlgError, PerfectSeparationError, ValueError) as error:
        return row | {"error": f"could not be estimated: {error}"}
    p = selection.predict(design)
    att = result.iloc[0]
    return row | {
        "att": float(att["coef"]),
        "att_ci": [float(att["Conf. Int. Low"]), float(att["Conf. Int. Upp."])],
        "att_p_value": float(att["P>|z|"]),
        "imbalance_after": balance(x, treated, p / (1 - p)),
        "propensity_range_sent": [float(p[treated].min()), float(p[treated].max())],
        "extreme_weight_share": float(np.mean(p[~treated] > 0.9)),
    }


def evaluate_campaigns(work_dir: Path, source: Path = DEFAULT_SOURCE, sample: bool = False) -> dict:
    """Import Complete Journey with its campaigns, build ml_campaign_snapshots, and estimate
    each campaign's effect on spend against comparable households; campaigns without enough
    history before them or whose window ends after the data are listed with the reason."""
    folder = work_dir / f"{DATASET}-campaigns"
    landing, database = folder / "landing", folder / "warehouse.duckdb"
    database.unlink(missing_ok=True)
    print(f"[{DATASET}-campaigns] importing and ingesting", flush=True)
    import_dataset(DATASET, landing, source, sample=sample)
    for contract in CONTRACTS:
        ingest_table(database, contract, landing)
    print(f"[{DATASET}-campaigns] dbt: features as of each campaign's first day", flush=True)
    with duckdb.connect(str(database), read_only=True) as con:
        (first,) = con.execute("select min(created_at)::date from raw.shop_orders").fetchone()
    run_dbt(
        database,
        [
            "build",
            "--select",
            "+ml_campaign_snapshots",
            "--exclude-resource-type",
            "test",
            "unit_test",
        ],
        # one training cutoff keeps the identity graph small: only the campaign days matter here
        {"ml_cutoffs": [first.isoformat()], "campaign_attribution_days": WINDOW_DAYS},
    )
    with duckdb.connect(str(database), read_only=True) as con:
        frame = con.execute(
            "select * from ml.ml_campaign_snapshots order by campaign_id, person_key"
        ).df()
        redemptions = con.execute(
            f"select campaign_id, count(distinct household_id) as households from read_csv("
            f"'{source}/{DATASET}/coupon_redemptions.csv.gz', all_varchar = true) group by all"
        ).df().set_index("campaign_id")["households"]  # fmt: skip
    descriptions = pd.read_csv(source / DATASET / "campaign_descriptions.csv.gz", dtype=str)
    rows = []
    for d in descriptions.sort_values("campaign_id", key=lambda c: c.astype(int)).itertuples():
        campaign = frame[frame["campaign_id"] == d.campaign_id]
        base = {"campaign_id": d.campaign_id, "type": d.campaign_type, "start": d.start_date,
                "redeemed": int(redemptions.get(d.campaign_id, 0))}  # fmt: skip
        history = (pd.Timestamp(d.start_date).date() - first).days
        if history < MIN_HISTORY_DAYS:
            rows.append(base | {"skipped": f"{max(history, 0)} days of shopping before it"})
        elif campaign.empty or not campaign["is_window_complete"].all():
            rows.append(base | {"skipped": f"its {WINDOW_DAYS}-day window ends after the data"})
        elif (campaign["treatment"] == "sent").sum() < 20:
            rows.append(base | {"skipped": "fewer than 20 households known before it were sent it"})
        else:
            rows.append(base | estimate(campaign))
    return {"window_days": WINDOW_DAYS, "campaigns": rows}


def _money(value: float) -> str:
    return f"{'−' if value < 0 else ''}${abs(value):,.2f}"


def write_doc(results: dict, seconds: float, path: Path = DOC) -> None:
    estimated = [r for r in results["campaigns"] if "att" in r]
    significant = [r for r in estimated if r["att_ci"][0] > 0 or r["att_ci"][1] < 0]
    lines = [
        "# Real campaigns without a holdout (The Complete Journey)",
        "",
        "Written by `nextsale evaluate --dataset completejourney-campaigns`; do not edit by hand.",
        "",
        *[" ".join(p.split()) for p in (__doc__ or "").split("\n\n")[1:]],
        "",
        f"Spend per household in the {results['window_days']} days from each campaign's first "
        "day. Redeemed: households that redeemed one of its coupons (the response a coupon "
        "report counts, which says nothing about what they would have bought anyway). Naive: "
        "sent minus not sent. Effect on the sent (ATT): inverse-probability-weighted regression "
        "adjustment, 95 % interval. Imbalance: the largest standardised mean difference of a "
        "history feature, before and after weighting (below 0.1: comparable).",
        "",
        f"{len(estimated)} campaigns estimated; {len(significant)} with an interval that "
        "excludes 0.",
        "",
        "| campaign | type | start | sent | not sent | redeemed | spend sent | spend not sent "
        "| naive | effect on the sent | 95 % CI | imbalance before → after |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results["campaigns"]:
        head = f"| {r['campaign_id']} | {r['type']} | {r['start']} "
        if "skipped" in r:
            lines.append(head + f"| | | {r['redeemed']:,} | | | | skipped: {r['skipped']} | | |")
        elif "error" in r:
            lines.append(
                head
                + f"| {r['sent']:,} | {r['not_sent']:,} | {r['redeemed']:,} | | | | {r['error']} | | |"
            )
        else:
            lines.append(
                head + f"| {r['sent']:,} | {r['not_sent']:,} | {r['redeemed']:,} "
                f"| {_money(r['spend_sent'])} | {_money(r['spend_not_sent'])} "
                f"| {_money(r['naive_difference'])} | {_money(r['att'])} "
                f"| [{_money(r['att_ci'][0])}, {_money(r['att_ci'][1])}] "
                f"| {r['imbalance_before']:.2f} → {r['imbalance_after']:.2f} |"
            )
    lines += ["", f"Total time: {seconds:.0f} s."]
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def run(
    source: Path, work_dir: Path, json_path: Path | None, sample: bool, write_docs: bool
) -> dict:
    started = time.perf_counter()
    results = evaluate_campaigns(work_dir, source, sample)
    if json_path:
        json_path.write_text(json.dumps(results, indent=2))
    if write_docs:
        write_doc(results, time.perf_counter() - started)
    for r in results["campaigns"]:
        if "att" in r:
            print(f"  campaign {r['campaign_id']:>2} {r['type']}: naive {_money(r['naive_difference'])}, "
                  f"effect on the sent {_money(r['att'])} [{_money(r['att_ci'][0])}, {_money(r['att_ci'][1])}]")  # fmt: skip
        else:
            print(f"  campaign {r['campaign_id']:>2}: {r.get('skipped') or r.get('error')}")
    return results
