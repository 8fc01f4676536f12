"""Real campaigns without a holdout: The Complete Journey's 27 (`nextsale evaluate --dataset
completejourney-campaigns`, docs/campaigns.md).

84.51° mailed coupon campaigns to chosen households and kept nobody back. The households a
campaign went to were chosen, and chosen for how they shop, so the naive difference (what they
spent minus what everyone else spent) measures the choice as much as the campaign. Each
campaign is therefore compared with households that were not sent it but shopped like the ones
that were, up to its first day: the same features (customer_features, campaign_history) the
models use, as of that day. Households whose history makes them near-certain to be sent or
not sent have no counterpart and are left out (propensity outside [0.05, 0.95]); on the rest,
the estimate is augmented inverse-probability weighting (statsmodels' TreatmentEffect.aipw,
doubly robust: right if either the model of who was sent or the model of spend is right), with
its standard error from the joint GMM; the balance of every feature before and after weighting
is reported.

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
import warnings
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from statsmodels.discrete.discrete_model import Logit
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.sm_exceptions import PerfectSeparationError
from statsmodels.treatment.treatment_effects import TreatmentEffect

from ml import offers
from ml.data import feature_matrix
from ml.uplift import fit_booster, predict_booster
from nextsale.contracts import CONTRACTS
from nextsale.ingest import ingest_table
from nextsale_lab.evaluate import run_dbt
from nextsale_lab.generate import generate, offer_effect
from nextsale_lab.importers import DEFAULT_SOURCE, import_dataset

DOC = Path(__file__).resolve().parents[1] / "docs" / "campaigns.md"
DATASET = "completejourney"
WINDOW_DAYS = 28  # four weekly shops: most of the 27 campaigns run four to six weeks
MIN_HISTORY_DAYS = 56  # eight weeks of shopping before a campaign to compare households on
# pre-campaign history: what the choice of households could have depended on
COVARIATES = (
    "orders_count",
    "revenue_usd",
    "orders_last_90d",
    "revenue_last_90d_usd",
    "recency_days",
    "average_order_value_usd",
    "tenure_days",
    "categories_bought",
    "discounted_order_share",
    "past_campaign_sends",
)
MIN_SENT = 20  # households sent (and comparable) below which no estimate is worth printing
TRIM = 0.05  # propensities this close to 0 or 1 have no comparable household on the other side
SKEWED = (
    "orders_count",
    "revenue_usd",
    "orders_last_90d",
    "revenue_last_90d_usd",
    "average_order_value_usd",
    "recency_days",
)


def covariates(frame: pd.DataFrame) -> pd.DataFrame:
    """Standardised history, skewed amounts on a log scale; never bought: recency of a year."""
    x = frame[list(COVARIATES)].astype(float).copy()
    x["recency_days"] = x["recency_days"].fillna(365)
    x = x.fillna(0)
    for column in SKEWED:
        x[column] = np.log1p(x[column].clip(lower=0))
    # a feature nobody differs on (no earlier campaigns yet) says nothing, and one equal to
    # another (all orders are in the last 90 days, early in the data) says it twice
    x = x.loc[:, x.std() > 0].T.drop_duplicates().T
    return (x - x.mean()) / x.std()


def balance(x: pd.DataFrame, treated: np.ndarray, weights: np.ndarray) -> float:
    """The largest absolute standardised mean difference of a covariate between the sent and
    the not sent, each side weighted; below 0.1 is the usual bar for 'comparable'."""

    def mean(side: np.ndarray) -> pd.Series:
        return (x[side] * (weights[side] / weights[side].sum())[:, None]).sum()

    spread = np.sqrt((x[treated].var() + x[~treated].var()) / 2).replace(0, 1)
    return float(((mean(treated) - mean(~treated)) / spread).abs().max())


def estimate(frame: pd.DataFrame) -> dict:
    """One campaign: sent against not sent, on spend in the window. The propensity to be sent
    is a logit on the history; households outside [TRIM, 1 - TRIM] of it have no comparable
    counterpart and are left out (Crump et al., 2009); on the rest, the doubly robust AIPW
    effect with its GMM standard error."""
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
        with warnings.catch_warnings():
            # near-separation and rank warnings are expected on small campaigns; the imbalance
            # after weighting, reported beside every estimate, is the diagnostic that matters
            warnings.simplefilter("ignore")
            return row | _adjusted(treated, design, y, x)
    except (np.linalg.LinAlgError, PerfectSeparationError, ValueError) as error:
        return row | {"error": f"could not be estimated: {error}"}


def _adjusted(treated: np.ndarray, design: np.ndarray, y: np.ndarray, x: pd.DataFrame) -> dict:
    """Trim to the overlap, then AIPW on it (see estimate)."""
    p = Logit(treated.astype(float), design).fit(disp=False, maxiter=200).predict(design)
    keep = (p >= TRIM) & (p <= 1 - TRIM)
    t, xs, ys = treated[keep], design[keep], y[keep]
    if t.sum() < MIN_SENT:
        return {"error": f"only {t.sum()} households sent have a comparable one not sent"}
    selection = Logit(t.astype(float), xs).fit(disp=False, maxiter=200)
    effect = TreatmentEffect(OLS(ys, xs), t.astype(int), results_select=selection)
    ate = effect.aipw().summary_frame().iloc[0]
    q = selection.predict(xs)
    return {
        "compared_sent": int(t.sum()),
        "compared_not_sent": int((~t).sum()),
        "effect": float(ate["coef"]),
        "effect_ci": [float(ate["Conf. Int. Low"]), float(ate["Conf. Int. Upp."])],
        "effect_p_value": float(ate["P>|z|"]),
        "imbalance_after": balance(x[keep], t, np.where(t, 1 / q, 1 / (1 - q))),
    }


def build_campaign_snapshots(landing: Path, database: Path, variables: dict) -> date:
    """Ingest every landing folder and build ml_campaign_snapshots (and what it reads) in
    `database`; returns the first order's day. One training cutoff keeps the identity graph
    small: only the campaign days matter here."""
    for contract in CONTRACTS:
        ingest_table(database, contract, landing)
    print(f"[{landing.parent.name}] dbt: features as of each campaign's first day", flush=True)
    with duckdb.connect(str(database), read_only=True) as con:
        (first,) = con.execute("select min(created_at)::date from raw.shop_orders").fetchall()[0]
    selection = [
        "build",
        "--select",
        "+ml_campaign_snapshots",
        "--exclude-resource-type",
        "test",
        "unit_test",
    ]
    run_dbt(database, selection, {"ml_cutoffs": [first.isoformat()], **variables})
    return first


def evaluate_campaigns(work_dir: Path, source: Path = DEFAULT_SOURCE, sample: bool = False) -> dict:
    """Import Complete Journey with its campaigns, build ml_campaign_snapshots, and estimate
    each campaign's effect on spend against comparable households; campaigns without enough
    history before them or whose window ends after the data are listed with the reason."""
    folder = work_dir / f"{DATASET}-campaigns"
    landing, database = folder / "landing", folder / "warehouse.duckdb"
    database.unlink(missing_ok=True)
    print(f"[{DATASET}-campaigns] importing and ingesting", flush=True)
    import_dataset(DATASET, landing, source, sample=sample)
    first = build_campaign_snapshots(landing, database, {"campaign_attribution_days": WINDOW_DAYS})
    with duckdb.connect(str(database), read_only=True) as con:
        frame = con.execute(
            "select * from ml.campaign_snapshots order by campaign_id, person_key"
        ).df()
        redemptions = (
            con.execute(
                f"select campaign_id, count(distinct household_id) as households from read_csv("
                f"'{source}/{DATASET}/coupon_redemptions.csv.gz', all_varchar = true) group by all"
            )
            .df()
            .set_index("campaign_id")["households"]
        )
    descriptions = pd.read_csv(source / DATASET / "campaign_descriptions.csv.gz", dtype=str)
    rows = []
    for d in descriptions.sort_values("campaign_id", key=lambda c: c.astype(int)).itertuples():
        campaign = frame[frame["campaign_id"] == d.campaign_id]
        base = {
            "campaign_id": d.campaign_id,
            "type": d.campaign_type,
            "start": d.start_date,
            "redeemed": int(redemptions.get(d.campaign_id, 0)),
        }
        history = (pd.Timestamp(d.start_date).date() - first).days
        if history < MIN_HISTORY_DAYS:
            rows.append(base | {"skipped": f"{max(history, 0)} days of shopping before it"})
        elif campaign.empty or not campaign["is_window_complete"].all():
            rows.append(base | {"skipped": f"its {WINDOW_DAYS}-day window ends after the data"})
        elif (campaign["treatment"] == "sent").sum() < MIN_SENT:
            rows.append(
                base | {"skipped": f"fewer than {MIN_SENT} households known before it were sent it"}
            )
        else:
            rows.append(base | estimate(campaign))
    return {"window_days": WINDOW_DAYS, "campaigns": rows}


def evaluate_generated(work_dir: Path, customers: int = 20_000, seed: int = 42) -> dict:
    """The offer model on generated campaigns, where each person's true effect of every offer
    on every channel is known (nextsale_lab.generate.offer_effect): how much of the planted
    sensitivities it recovers on the held-out campaign, beside the Qini it is gated on."""
    folder = work_dir / "generated-campaigns"
    landing, database = folder / "landing", folder / "warehouse.duckdb"
    database.unlink(missing_ok=True)
    print(f"[generated-campaigns] generating {customers:,} people and ingesting", flush=True)
    generate(landing, customers=customers, seed=seed)
    build_campaign_snapshots(landing, database, {})
    frame = offers.read_campaign_snapshots(database)
    print(
        f"[generated-campaigns] offer model on {frame['campaign_id'].nunique()} campaigns",
        flush=True,
    )
    run = offers.train_offer_model(frame)
    if run.model is None:
        raise RuntimeError(f"no offer model to judge: {'; '.join(run.reasons)}")
    model = run.model
    truth = landing / "_ground_truth"
    sends = pd.read_parquet(truth / "campaign_sends", columns=["send_id", "pid"])
    persons = pd.read_parquet(truth / "persons").set_index("pid")
    test = frame[frame["campaign_id"] == run.test_campaign].merge(sends, on="send_id")
    people = persons.loc[test["pid"].to_numpy()]
    x = feature_matrix(test, run.features, {})
    arms = model.arms
    true = {a: offer_effect(people, *_truth_key(a)) for a in arms}
    predicted = {a: model.uplift(x, a) for a in arms}
    propensity = {a: model.response(x, a) for a in arms}
    # the ceiling: a model of each arm's true effect itself, learned on the training
    # campaigns' people, ranks the test people this well with the same features
    train = frame[frame["campaign_id"] != run.test_campaign].merge(sends, on="send_id")
    x_train = feature_matrix(train, run.features, {})
    train_people = persons.loc[train["pid"].to_numpy()]
    ceiling = {
        a: predict_booster(
            fit_booster(
                x_train, offer_effect(train_people, *_truth_key(a)), "reg:squarederror", 0, 200
            ),
            x,
        )
        for a in arms
    }
    per_arm = [
        {
            "arm": a,
            "true_mean": float(true[a].mean()),
            "predicted_mean": float(predicted[a].mean()),
            "spearman": float(spearmanr(predicted[a], true[a])[0]),
            "ceiling_spearman": float(spearmanr(ceiling[a], true[a])[0]),
        }
        for a in arms
    ]
    # who to send the campaign to (one random offer on their channel), by each score
    channel = test["channel"].to_numpy()
    scores = {
        "uplift": offers.channel_mean(predicted, channel),
        "propensity": offers.channel_mean(propensity, channel),
    }
    campaign_truth = offers.channel_mean(true, channel)
    top = int(0.3 * len(test))
    targeting = {
        name: float(campaign_truth[np.argsort(-score, kind="stable")[:top]].mean())
        for name, score in scores.items()
    } | {
        "random": float(campaign_truth.mean()),
        "oracle": float(np.sort(campaign_truth)[-top:].mean()),
    }
    # which offer and channel for each person, by each policy, in true extra orders per person
    t, idx = np.array([true[a] for a in arms]), np.arange(len(test))
    policies = {
        "uplift model's pick": t[np.argmax([predicted[a] for a in arms], axis=0), idx].mean(),
        "propensity model's pick": t[np.argmax([propensity[a] for a in arms], axis=0), idx].mean(),
        "one offer for all (the best on average)": t.mean(axis=1).max(),
        "a random offer": t.mean(),
        "oracle (the true best for each person)": t.max(axis=0).mean(),
    }
    return {
        "customers": customers,
        "test_campaign": run.test_campaign,
        "train_campaigns": run.train_campaigns,
        "gate": run.reasons,
        "passed": run.passed,
        "targeting_qini": run.targeting,
        "arms": per_arm,
        "campaign_score_spearman": {
            n: float(spearmanr(s, campaign_truth)[0]) for n, s in scores.items()
        },
        "top_30_true_effect": targeting,
        "policies": {k: float(v) for k, v in policies.items()},
        "discount_sensitivity_spearman": float(
            spearmanr(predicted["discount 20% by email"], people["discount_sensitivity"])[0]
        ),
    }


def _truth_key(arm: str) -> tuple[str, str | None, str]:
    offer_type, discount, channel = offers.parse_arm(arm)
    return offer_type, (f"{discount * 100:.0f}" if offer_type == "discount" else None), channel


def _money(value: float) -> str:
    return f"{'−' if value < 0 else ''}${abs(value):,.2f}"


def write_doc(results: dict, seconds: float, path: Path = DOC) -> None:
    estimated = [r for r in results["campaigns"] if "effect" in r]
    significant = [r for r in estimated if r["effect_ci"][0] > 0 or r["effect_ci"][1] < 0]
    lines = [
        "# Real campaigns without a holdout (The Complete Journey)",
        "",
        "Written by `nextsale evaluate --dataset completejourney-campaigns`; do not edit by hand.",
        "",
        *(line for p in (__doc__ or "").split("\n\n")[1:] for line in (" ".join(p.split()), "")),
        f"Spend per household in the {results['window_days']} days from each campaign's first "
        "day. Redeemed: households that redeemed one of its coupons (the response a coupon "
        "report counts, which says nothing about what they would have bought anyway). Naive: "
        "sent minus not sent. Effect: AIPW on the comparable households (compared: sent / not "
        "sent inside the overlap), 95 % interval. Imbalance: the largest standardised mean "
        "difference of a history feature, before and after weighting (below 0.1: comparable).",
        "",
        f"{len(estimated)} campaigns estimated; {len(significant)} with an interval that "
        "excludes 0.",
        "",
        "| campaign | type | start | sent | not sent | redeemed | spend sent | spend not sent "
        "| naive | compared | effect | 95 % CI | imbalance before → after |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results["campaigns"]:
        head = f"| {r['campaign_id']} | {r['type']} | {r['start']} "
        if "skipped" in r:
            lines.append(head + f"| | | {r['redeemed']:,} | | | | | skipped: {r['skipped']} | | |")
        elif "error" in r:
            lines.append(
                head
                + f"| {r['sent']:,} | {r['not_sent']:,} | {r['redeemed']:,} | | | | | {r['error']} | | |"
            )
        else:
            lines.append(
                head + f"| {r['sent']:,} | {r['not_sent']:,} | {r['redeemed']:,} "
                f"| {_money(r['spend_sent'])} | {_money(r['spend_not_sent'])} "
                f"| {_money(r['naive_difference'])} | {r['compared_sent']:,} / {r['compared_not_sent']:,} "
                f"| {_money(r['effect'])} | [{_money(r['effect_ci'][0])}, {_money(r['effect_ci'][1])}] "
                f"| {r['imbalance_before']:.2f} → {r['imbalance_after']:.2f} |"
            )
    lines += ["", f"Total time: {seconds:.0f} s."]
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def run(
    datasets: list[str],
    source: Path,
    work_dir: Path,
    json_path: Path | None,
    sample: bool,
    write_docs: bool,
) -> dict:
    """`completejourney-campaigns` and/or `generated-campaigns` (see the module and
    evaluate_generated); each writes its doc and prints its headline."""
    results = {}
    if "completejourney-campaigns" in datasets:
        started = time.perf_counter()
        results["completejourney"] = observed = evaluate_campaigns(work_dir, source, sample)
        if write_docs:
            write_doc(observed, time.perf_counter() - started)
        for r in observed["campaigns"]:
            if "effect" in r:
                print(
                    f"  campaign {r['campaign_id']:>2} {r['type']}: naive {_money(r['naive_difference'])}, "
                    f"effect {_money(r['effect'])} [{_money(r['effect_ci'][0])}, {_money(r['effect_ci'][1])}]"
                )
            else:
                print(f"  campaign {r['campaign_id']:>2}: {r.get('skipped') or r.get('error')}")
    if "generated-campaigns" in datasets:
        started = time.perf_counter()
        results["generated"] = planted = evaluate_generated(
            work_dir, customers=4_000 if sample else 20_000
        )
        if write_docs:
            write_generated_doc(planted, time.perf_counter() - started)
        for name, value in planted["policies"].items():
            print(f"  {name:<42} {value:.4f} true extra orders per person")
    if json_path:
        json_path.write_text(json.dumps(results, indent=2))
    return results


OFFERS_DOC = Path(__file__).resolve().parents[1] / "docs" / "offers.md"


def write_generated_doc(results: dict, seconds: float, path: Path = OFFERS_DOC) -> None:
    r = results
    lines = [
        "# The offer model against the planted truth (generated campaigns)",
        "",
        "Written by `nextsale evaluate --dataset generated-campaigns`; do not edit by hand. "
        f"{r['customers']:,} generated people, five campaigns with a 10 % holdout, each member "
        "sent one of four offers on one channel at random; whether an offer causes an order is "
        "planted (`nextsale_lab.generate.offer_effect`: discounts work on the discount-sensitive, "
        "free shipping on the price-sensitive, a product pick on people with one strong "
        "category, SMS on people who like SMS). The model (ml/offers.py) learned on "
        f"{', '.join(r['train_campaigns'])} and is judged on {r['test_campaign']}, as in the "
        "pipeline; against propensity targeting its gate also judges the two campaigns before, "
        "each by a model learned on the campaigns before it. Generated data proves the plumbing and shows what the features can reveal; "
        "the real-data checks are docs/uplift.md (Hillstrom) and docs/campaigns.md.",
        "",
        f"Gate ({'passed' if r['passed'] else 'held back'}): {'; '.join(r['gate'])}.",
        "",
        "## Targeting: who to send the campaign to",
        "",
        "Observed Qini on the held-out campaign (what the gate sees), and the true extra orders "
        "per person among the 30 % each score puts first (what it cannot see):",
        "",
        "| scorer | observed Qini | 95 % CI | true effect, top 30 % | Spearman with the true effect |",
        "|---|---:|---|---:|---:|",
        *(
            f"| {q['scorer']} | {q['qini']:.4f} | [{q['qini_ci'][0]:.4f}, {q['qini_ci'][1]:.4f}] "
            f"| {r['top_30_true_effect'].get(q['scorer'], float('nan')):.4f} "
            f"| {r['campaign_score_spearman'].get(q['scorer'], float('nan')):.3f} |"
            for q in r["targeting_qini"]
        ),
        f"| oracle | | | {r['top_30_true_effect']['oracle']:.4f} | 1 |",
        "",
        "## Which offer, on which channel",
        "",
        "Per offer and channel: the mean true effect on the held-out campaign's people, the "
        "model's mean predicted uplift, how well it ranks people by their true effect, and "
        "the ceiling: how well a model fitted to the true effects themselves (which no real "
        "campaign reveals) ranks them with the same features.",
        "",
        "| offer | true mean | predicted mean | Spearman | ceiling Spearman |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {a['arm']} | {a['true_mean']:.4f} | {a['predicted_mean']:.4f} "
            f"| {a['spearman']:.3f} | {a['ceiling_spearman']:.3f} |"
            for a in r["arms"]
        ),
        "",
        f"Spearman of the predicted uplift of 20 % off by email with the planted discount "
        f"sensitivity: {r['discount_sensitivity_spearman']:.3f}.",
        "",
        "True extra orders per person had everyone been sent what each policy picks:",
        "",
        "| policy | true extra orders per person |",
        "|---|---:|",
        *(f"| {name} | {value:.4f} |" for name, value in r["policies"].items()),
        "",
        "Between offers, the uplift and the propensity model pick alike (the no-offer term is "
        "the same for every offer); they differ on whom to send anything at all (targeting, "
        "above) and, through the margin, on whom a discount pays for (next_best_offers).",
        "",
        f"Total time: {seconds:.0f} s.",
    ]
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
