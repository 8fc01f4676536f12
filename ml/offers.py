"""Which offer, on which channel, for whom: an uplift model learned from past campaigns.

Every campaign with a holdout is a randomised experiment: its members were kept back or sent
one offer (a product pick, free shipping, a discount) on one channel, at random. The model is
an S-learner (`ml.uplift`) over the campaign snapshots (`ml_campaign_snapshots`: features as of
each campaign's day, the order or not in its attribution window), with each arm described by
what it is (sent, discount %, benefit, product, channel), so that the eight or so offer x
channel arms share what they have in common.

It learns on the earlier campaigns and is judged on the latest complete one, which it never saw:
targeting that campaign's people by predicted uplift (the mean over the offers of their channel,
as the campaign sent one at random) against random targeting and against targeting by the
propensity to buy when sent, by the Qini coefficient with bootstrap intervals. Rolling origin,
as for the other models: up to two campaigns before the latest are judged the same way, each by
a model learned on the campaigns before it, and the Qini difference with propensity targeting
is averaged over the judged campaigns with a paired bootstrap interval by person (`ml.compare`).

The gate publishes it when its Qini interval on the latest campaign is above random (0) and it
credibly beats propensity targeting over the judged campaigns: the mean paired difference above
0 with its whole 95 % interval above 0, the bar every other model meets against its baselines.
A model that ranks no better than propensity has not earned the choice of offer: on the planted
campaigns (docs/offers.md) the offers it picks yield no more true orders than the propensity
model's picks. A model held back because the campaigns cannot show it is inconclusive, not
broken (`credibly_worse`: Qini credibly below random, or the interval wholly below propensity's).

Scoring (`best_offers`) picks, per person and reachable channel, the arm with the highest
expected incremental margin over sending nothing:

    P(order | sent a) * AOV * (margin - discount_a) - free shipping cost if a is free shipping
        - P(order | nothing) * AOV * margin - message cost of a's channel

A discount is paid on the orders that would have come anyway; that is what makes a 20 % discount
lose money on people who buy regardless. When no arm pays, the pick is to send nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ml import artifacts, relations
from ml.compare import Fold, compare
from ml.data import feature_columns, feature_matrix
from ml.train import data_hash
from ml.uplift import CONTROL, UpliftModel, judge_targeting, qini_coefficient, qini_curve
from nextsale.warehouse import Warehouse, as_warehouse

NAME = "offer_uplift"
SNAPSHOT = relations.CAMPAIGN_SNAPSHOTS
# what a row of the campaign snapshot says about the send, not about the person before it
CAMPAIGN_COLUMNS = (
    "campaign_id",
    "started_at",
    "send_id",
    "audience",
    "offer_type",
    "offer_value",
    "channel",
    "treatment",
    "window_end",
    "is_window_complete",
    "person_rank",
)
MIN_CONVERSIONS = 30  # among the people sent, in training and in the test campaign
MIN_HOLDOUT_CONVERSIONS = 10  # among the held-out, likewise
ROLLING_CAMPAIGNS = 3  # judged: the latest campaign and up to two before it
FREE_SHIPPING_COST_USD = 6.0  # what shipping an order costs the shop
MESSAGE_COST_USD = {"email": 0.001, "sms": 0.015}  # per message sent
# what best_offers picks per person (scores.offer_choices), besides offer_reason
OFFER_COLUMNS = (
    "offer_type",
    "offer_discount_percent",
    "offer_channel",
    "offer_order_chance_uplift",
    "offer_expected_incremental_margin_usd",
)


def arm_label(offer_type: str, offer_value: str | None, channel: str) -> str:
    value = f" {offer_value}%" if offer_type == "discount" and offer_value else ""
    return f"{offer_type}{value} by {channel}"


def parse_arm(arm: str) -> tuple[str, float, str]:
    """(offer type, discount as a share, channel) of an arm label."""
    offer, _, channel = arm.partition(" by ")
    offer_type, _, value = offer.partition(" ")
    return offer_type, float(value.rstrip("%") or 0) / 100, channel


def describe_offer(arm: str, arms: list[str]) -> dict[str, float]:
    """An arm as the S-learner sees it (the control arm: not sent, nothing else)."""
    if arm == CONTROL:
        return {
            "sent": 0.0,
            "discount_share": 0.0,
            "free_shipping": 0.0,
            "product": 0.0,
            "by_sms": 0.0,
        }
    offer_type, discount, channel = parse_arm(arm)
    return {
        "sent": 1.0,
        "discount_share": discount,
        "free_shipping": float(offer_type == "free_shipping"),
        "product": float(offer_type == "product"),
        "by_sms": float(channel == "sms"),
    }


def arms_of(frame: pd.DataFrame) -> pd.Series:
    labels = [
        CONTROL
        if treatment == "holdout"
        else arm_label(offer_type, offer_value if isinstance(offer_value, str) else None, channel)
        for treatment, offer_type, offer_value, channel in zip(
            frame["treatment"],
            frame["offer_type"],
            frame["offer_value"],
            frame["channel"],
            strict=True,
        )
    ]
    return pd.Series(labels, index=frame.index, name="arm")


def read_campaign_snapshots(warehouse: Warehouse | Path) -> pd.DataFrame:
    """The randomised part: people sent or held out, in campaigns whose window has closed."""
    frame = as_warehouse(warehouse).query(
        f"select * from {SNAPSHOT} where is_window_complete and treatment in ('sent', 'holdout') "
        "order by started_at, campaign_id, person_key"
    )
    return frame.assign(arm=arms_of(frame)) if len(frame) else frame.assign(arm=[])


def offer_features(frame: pd.DataFrame) -> list[str]:
    return [c for c in feature_columns(frame) if c not in CAMPAIGN_COLUMNS and c != "arm"]


def channel_mean(by_arm: dict[str, np.ndarray], channel: np.ndarray) -> np.ndarray:
    """Per person, the mean of a per-arm value over the offers of their channel: what a
    campaign that drew one of them at random is worth to them (0 where none is on it)."""
    out = np.zeros(len(channel))
    for medium in np.unique(channel):
        rows = channel == medium
        values = [v[rows] for a, v in by_arm.items() if parse_arm(a)[2] == medium]
        if values:
            out[rows] = np.mean(values, axis=0)
    return out


def campaign_scores(
    model: UpliftModel, x: pd.DataFrame, channel: np.ndarray
) -> dict[str, np.ndarray]:
    """Per person: the mean predicted uplift, and the mean propensity to buy when sent, over
    the offers of their channel (the campaign drew one of them at random)."""
    return {
        "uplift": channel_mean({a: model.uplift(x, a) for a in model.arms}, channel),
        "propensity": channel_mean({a: model.response(x, a) for a in model.arms}, channel),
    }


@dataclass
class OfferRun:
    model: UpliftModel | None
    features: list[str]
    passed: bool
    reasons: list[str]
    test_campaign: str | None = None
    train_campaigns: list[str] = field(default_factory=list)
    n_train: int = 0
    n_test: int = 0
    targeting: list[dict] = field(default_factory=list)  # scorer rows of judge_targeting
    arms: list[dict] = field(default_factory=list)  # per arm: predicted vs measured on the test
    qini_curves: dict[str, list[float]] = field(default_factory=dict)  # scorer -> 21 points
    # judged and shown worse (Qini credibly below random, or below propensity targeting's), as
    # against held back for want of evidence: one campaign of a few thousand people often
    # cannot tell a real Qini from 0
    credibly_worse: bool = False
    # the Qini against propensity targeting's over the judged campaigns (Comparison.as_dict)
    rolling: dict | None = None

    def qini(self, scorer: str) -> float:
        return next((r["qini"] for r in self.targeting if r["scorer"] == scorer), float("nan"))


def _too_few_orders(frame: pd.DataFrame) -> bool:
    sent, held = _counts(frame)
    return sent < MIN_CONVERSIONS or held < MIN_HOLDOUT_CONVERSIONS


def _counts(frame: pd.DataFrame) -> tuple[int, int]:
    sent = frame["arm"] != CONTROL
    converted = frame["label_converted"].astype(bool)
    return int((converted & sent).sum()), int((converted & ~sent).sum())


def train_offer_model(frame: pd.DataFrame, rounds: int = 200, seed: int = 0) -> OfferRun:
    """Learn on every complete campaign but the latest, judge on the latest; see the module."""
    campaigns = list(dict.fromkeys(frame["campaign_id"])) if len(frame) else []
    features = offer_features(frame) if len(frame) else []
    if len(campaigns) < 2:
        return OfferRun(
            None,
            features,
            False,
            [
                f"{len(campaigns)} campaign(s) with a holdout and a closed attribution window; "
                "learning who responds to which offer needs at least 2 (one to learn from, the "
                "latest to judge on)"
            ],
        )
    test_campaign = campaigns[-1]
    train, test = (
        frame[frame["campaign_id"] != test_campaign],
        frame[frame["campaign_id"] == test_campaign],
    )
    short = [
        f"{name}: {sent} orders among the people sent and {held} among the held-out, below the "
        f"minimum {MIN_CONVERSIONS} and {MIN_HOLDOUT_CONVERSIONS}"
        for name, part in (("training campaigns", train), (f"test campaign {test_campaign}", test))
        if _too_few_orders(part)
        for sent, held in [_counts(part)]
    ]
    run = OfferRun(
        None, features, False, short, test_campaign, campaigns[:-1], len(train), len(test)
    )
    if short:
        return run
    run.model, scores, treated, y = _judge_campaign(train, test, features, rounds, seed)
    x_test = feature_matrix(test, features, {})
    model = run.model
    run.targeting = judge_targeting({**scores, "random": np.zeros(len(test))}, treated, y, 200)
    run.qini_curves = {
        name: [float(v) for v in qini_curve(score, treated, y, points=20)[1]]
        for name, score in scores.items()
    } | {"random": [0.0, float(qini_curve(scores["uplift"], treated, y)[1][-1])]}
    folds, judged_campaigns = [_qini_fold(test, scores, treated, y)], [test_campaign]
    for earlier in campaigns[-ROLLING_CAMPAIGNS:-1][::-1]:
        before = campaigns[: campaigns.index(earlier)]
        if not before:
            continue  # the first campaign has nothing to learn from
        learn = frame[frame["campaign_id"].isin(before)]
        judged = frame[frame["campaign_id"] == earlier]
        if _too_few_orders(learn) or _too_few_orders(judged):
            continue
        _, earlier_scores, earlier_treated, earlier_y = _judge_campaign(
            learn, judged, features, rounds, seed
        )
        folds.append(_qini_fold(judged, earlier_scores, earlier_treated, earlier_y))
        judged_campaigns.append(earlier)
    rolling = compare(folds, "qini", True, seed=seed)["propensity"]
    run.rolling = rolling.as_dict() | {"campaigns": judged_campaigns}
    held_rate = float(y[~treated].mean())
    run.arms = [
        {
            "arm": arm,
            "sent": int(rows.sum()),
            "predicted_uplift": float(model.uplift(x_test[rows], arm).mean()),
            "measured_uplift": float(y[rows].mean() - held_rate),
        }
        for arm in model.arms
        for rows in [(test["arm"] == arm).to_numpy()]
        if rows.any()
    ]
    run.passed, run.credibly_worse, run.reasons = offer_gate(
        run.targeting, test_campaign, run.rolling
    )
    return run


def _judge_campaign(
    train: pd.DataFrame, test: pd.DataFrame, features: list[str], rounds: int, seed: int
) -> tuple[UpliftModel, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Learn on `train`'s campaigns; the test campaign's uplift and propensity scores, who was
    sent and who ordered."""
    x = feature_matrix(train, features, {})
    model = UpliftModel("s", True, rounds=rounds, seed=seed, describe=describe_offer)
    model.fit(x, train["arm"], train["label_converted"].to_numpy(dtype=float))
    scores = campaign_scores(model, feature_matrix(test, features, {}), test["channel"].to_numpy())
    treated = (test["arm"] != CONTROL).to_numpy()
    return model, scores, treated, test["label_converted"].to_numpy(dtype=float)


def _qini_fold(
    test: pd.DataFrame, scores: dict[str, np.ndarray], treated: np.ndarray, y: np.ndarray
) -> Fold:
    """A judged campaign for `ml.compare`: its people, their Qini scorer, uplift ("model")
    against propensity targeting."""
    return Fold(
        cutoff=pd.Timestamp(test["started_at"].iloc[0]).date(),
        people=test["person_key"].to_numpy(),
        score=lambda p, rows: qini_coefficient(p[rows], treated[rows], y[rows]),
        predictions={"model": scores["uplift"], "propensity": scores["propensity"]},
    )


def offer_gate(
    targeting: list[dict], test_campaign: str, rolling: dict | None = None
) -> tuple[bool, bool, list[str]]:
    """Passed, credibly worse, and why, from the latest campaign's Qini rows and, where earlier
    campaigns were judged too, the mean difference with propensity targeting over all of them
    (see the module for the rule)."""
    uplift = next(r for r in targeting if r["scorer"] == "uplift")
    propensity = next(r["qini"] for r in targeting if r["scorer"] == "propensity")
    beats_random = uplift["qini_ci"][0] > 0
    difference = uplift["qini"] - propensity
    low, high = uplift["qini_minus_propensity_ci"]
    where = f"({propensity:.4f})"
    if rolling and len(rolling["campaigns"]) > 1:
        difference, low, high = rolling["difference"], rolling["low"], rolling["high"]
        where = f"on average over {', '.join(rolling['campaigns'])}"
    not_worse = high >= 0
    versus = (
        "credibly above it"
        if difference > 0 and low > 0
        else "credibly below it"
        if not not_worse
        else "not credibly above it"
    )
    reasons = [
        f"Qini on {test_campaign} {uplift['qini']:.4f} [{uplift['qini_ci'][0]:.4f}, "
        f"{uplift['qini_ci'][1]:.4f}]: {'above' if beats_random else 'not above'} random (0)",
        f"Qini minus propensity targeting's {where}: {difference:+.4f} "
        f"[{low:.4f}, {high:.4f}], {versus}",
    ]
    passed = beats_random and difference > 0 and low > 0
    return passed, uplift["qini_ci"][1] < 0 or not not_worse, reasons


def save(
    run: OfferRun, frame: pd.DataFrame, artifacts_dir: Path, fingerprint: str | None = None
) -> tuple[str, dict]:
    """A version folder like the other models' (boosters + model.json, with the fingerprint of
    its inputs, for `reuse`); published if it passed."""
    info = {
        "model": NAME,
        "gate": {
            "passed": run.passed,
            "credibly_worse": run.credibly_worse,
            "reasons": run.reasons,
        },
        "test_campaign": run.test_campaign,
        "train_campaigns": run.train_campaigns,
        "n_train": run.n_train,
        "n_test": run.n_test,
        "targeting": run.targeting,
        "arms": run.arms,
        "qini_curves": run.qini_curves,
        "features": run.features,
        "rolling": run.rolling,
        "settings": run.model.settings() if run.model else None,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "inputs_sha256": fingerprint,
    }
    version, _, info = artifacts.write_version(
        artifacts_dir,
        NAME,
        data_hash(frame.drop(columns=["arm"])),
        info,
        lambda path: run.model.save(path) if run.model else None,
        run.passed and run.model is not None,
    )
    return version, info


def reuse(artifacts_dir: Path, fingerprint: str) -> tuple[str, OfferRun] | None:
    """The latest version and its judgement, when it learned from exactly these inputs: training
    again would give the same model and the same verdict."""
    latest = artifacts.latest_manifest(artifacts_dir, NAME)
    if latest is None or latest.get("inputs_sha256") != fingerprint:
        return None
    gate = latest["gate"]
    run = OfferRun(
        None,
        latest["features"],
        gate["passed"],
        gate["reasons"],
        latest["test_campaign"],
        latest["train_campaigns"],
        latest["n_train"],
        latest["n_test"],
        latest["targeting"],
        latest["arms"],
        latest["qini_curves"],
        gate["credibly_worse"],
        latest.get("rolling"),
    )
    return latest["version"], run


def load(artifacts_dir: Path) -> tuple[UpliftModel, list[str], str] | None:
    """The published offer model, its features and version; None if none ever passed."""
    version = artifacts.published_version(artifacts_dir, NAME)
    if version is None:
        return None
    path = artifacts_dir / "models" / NAME / version
    info = json.loads((path / "model.json").read_text())
    model = UpliftModel.load(path, info["settings"], describe_offer)
    return model, info["features"], version


def best_offers(
    model: UpliftModel,
    features: list[str],
    people: pd.DataFrame,
    margin_rate: float,
    default_aov: float,
) -> pd.DataFrame:
    """Per person (rows of ml_offer_scoring_snapshot with is_email_opt_in / is_sms_opt_in): the
    arm with the highest expected incremental margin among those on a channel they consented
    to, its uplift in the chance of an order, and the reason; nothing when no arm pays."""
    x = feature_matrix(people, features, {})
    aov = people["average_order_value_usd"].fillna(default_aov).to_numpy(dtype=float)
    base = model.response(x, CONTROL)
    reachable = {
        "email": people["is_email_opt_in"].to_numpy(bool),
        "sms": people["is_sms_opt_in"].to_numpy(bool),
    }
    arms = [a for a in model.arms if parse_arm(a)[2] in reachable]
    margin_rows, response_rows = [], []
    for arm in arms:
        offer_type, discount, channel = parse_arm(arm)
        sent = model.response(x, arm)
        margin = (
            sent * aov * (margin_rate - discount)
            - base * aov * margin_rate
            - sent * FREE_SHIPPING_COST_USD * (offer_type == "free_shipping")
            - MESSAGE_COST_USD[channel]
        )
        margin_rows.append(np.where(reachable[channel], margin, -np.inf))
        response_rows.append(sent)
    margins, responses = np.array(margin_rows), np.array(response_rows)
    pick = margins.argmax(axis=0)
    idx = np.arange(len(people))
    best_margin = margins[pick, idx]
    best_response = responses[pick, idx]
    pays = np.isfinite(best_margin) & (best_margin > 0)
    chosen = np.array(arms, dtype=object)[pick]
    parsed = [parse_arm(a) for a in chosen]
    reasons = [
        _reason(arm, p0, p1, m, d, aov_i, margin_rate)
        if ok
        else (
            "not reachable by email or SMS"
            if not np.isfinite(m)
            else f"no offer pays: the best, {arm}, would lose {-m:,.2f} USD of margin"
        )
        for arm, p0, p1, m, (_, d, _), aov_i, ok in zip(
            chosen, base, best_response, best_margin, parsed, aov, pays, strict=True
        )
    ]
    return pd.DataFrame(
        {
            "customer_key": people["customer_key"].to_numpy(),
            "offer_type": np.where(
                pays, np.array([p[0] for p in parsed], dtype=object), np.array(None)
            ),
            "offer_discount_percent": np.where(
                pays & np.array([p[0] == "discount" for p in parsed]),
                [round(p[1] * 100) for p in parsed],
                np.nan,
            ),
            "offer_channel": np.where(
                pays, np.array([p[2] for p in parsed], dtype=object), np.array(None)
            ),
            "offer_order_chance_uplift": np.where(pays, best_response - base, np.nan),
            "offer_expected_incremental_margin_usd": np.where(pays, best_margin, np.nan),
            "offer_reason": reasons,
        }
    )


def _reason(
    arm: str,
    base: float,
    sent: float,
    margin: float,
    discount: float,
    aov: float,
    margin_rate: float,
) -> str:
    cost = f", after {discount:.0%} off the orders that would have come anyway" if discount else ""
    return (
        f"{arm}: chance of an order in the window {base:.1%} -> {sent:.1%} on a "
        f"{aov:,.0f} USD order at {margin_rate:.0%} margin; +{margin:,.2f} USD expected margin{cost}"
    )
