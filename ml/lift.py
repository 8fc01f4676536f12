"""Measured lift: what a send did, from the people sent it against the holdout kept back.

For one audience (or one e-mail of an experiment), per person: whether they converted and what
they spent in the attribution window. The lift of each measure is the treated value minus the
holdout's, with a 95 % interval from a stratified bootstrap (each group resampled on its own, so
the intervals hold for skewed revenue as much as for rates, and for the ratio AOV, where no
simple formula does). Incremental revenue scales the per-member difference to everyone sent.

`minimum_detectable_lift` answers the question to ask before reading any of it: with holdouts
this size, how large a lift in the conversion rate could have been told from none at all?
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

MEASURES = ("conversion_rate", "revenue_per_member", "average_order_value")


@dataclass(frozen=True)
class Lift:
    measure: str
    treated: float
    holdout: float
    lift: float
    low: float
    high: float

    @property
    def relative(self) -> float:
        return self.lift / self.holdout if self.holdout else float("nan")

    @property
    def significant(self) -> bool:
        """The interval leaves out no effect at all."""
        return self.low > 0 or self.high < 0


def _measures(converted: np.ndarray, revenue: np.ndarray) -> np.ndarray:
    buyers = converted > 0
    return np.array(
        [
            converted.mean(),
            revenue.mean(),
            revenue[buyers].mean() if buyers.any() else np.nan,
        ]
    )


def measure_lift(
    treated_converted: np.ndarray,
    treated_revenue: np.ndarray,
    holdout_converted: np.ndarray,
    holdout_revenue: np.ndarray,
    rounds: int = 2000,
    seed: int = 0,
) -> dict[str, Lift]:
    """Conversion rate, revenue per member and AOV (revenue per converter) for the treated and
    the holdout, their difference and its 95 % stratified-bootstrap percentile interval, plus
    `incremental_revenue`: the revenue-per-member lift times the people sent."""
    t_conv, t_rev = np.asarray(treated_converted, float), np.asarray(treated_revenue, float)
    h_conv, h_rev = np.asarray(holdout_converted, float), np.asarray(holdout_revenue, float)
    if len(t_conv) == 0 or len(h_conv) == 0:
        raise ValueError("lift needs people in both the treated group and the holdout")
    treated, holdout = _measures(t_conv, t_rev), _measures(h_conv, h_rev)
    rng = np.random.default_rng(seed)
    draws = np.empty((rounds, len(MEASURES)))
    for i in range(rounds):
        t = rng.integers(0, len(t_conv), len(t_conv))
        h = rng.integers(0, len(h_conv), len(h_conv))
        draws[i] = _measures(t_conv[t], t_rev[t]) - _measures(h_conv[h], h_rev[h])
    with warnings.catch_warnings():  # AOV has no draws when nobody converted: NaN, said so
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanpercentile(draws, [2.5, 97.5], axis=0)
    lifts = {
        m: Lift(
            m,
            float(treated[k]),
            float(holdout[k]),
            float(treated[k] - holdout[k]),
            float(low[k]),
            float(high[k]),
        )
        for k, m in enumerate(MEASURES)
    }
    per_member = lifts["revenue_per_member"]
    n = len(t_conv)
    lifts["incremental_revenue"] = Lift(
        "incremental_revenue",
        per_member.treated * n,
        per_member.holdout * n,
        per_member.lift * n,
        per_member.low * n,
        per_member.high * n,
    )
    return lifts


def minimum_detectable_lift(
    treated: int, holdout: int, base_rate: float, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest absolute lift in a conversion rate of about `base_rate` that a two-sided
    test at `alpha` would detect with probability `power`, given the group sizes (the normal
    approximation for two proportions)."""
    if treated <= 0 or holdout <= 0:
        return float("inf")
    p = min(max(base_rate, 1e-6), 1 - 1e-6)
    spread = np.sqrt(p * (1 - p) * (1 / treated + 1 / holdout))
    return float((norm.ppf(1 - alpha / 2) + norm.ppf(power)) * spread)


MIN_HOLDOUT = 100  # below this many held-out people no rate is worth reporting
LIFT_COLUMNS = [
    "campaign_id",
    "audience",
    "offer",
    "measure",
    "sent",
    "holdout",
    "treated_value",
    "holdout_value",
    "lift",
    "lift_low",
    "lift_high",
    "relative_lift",
    "is_significant",
    "detectable_conversion_lift",
    "holdout_can_measure",
]


def lift_table(outcomes: pd.DataFrame, rounds: int = 1000) -> pd.DataFrame:
    """Measured lift per campaign and audience, for all its offers together and for each offer
    against the same holdout: one row per (campaign, audience, offer) and measure, with the
    group sizes, the interval, and whether the holdout could have measured a lift at all (at
    least MIN_HOLDOUT people, and a tripling of the conversion rate detectable).

    `outcomes` has one row per send or holdout member: campaign_id, audience, offer_type,
    offer_value, is_holdout, converted, revenue_usd (campaign_outcomes, windows complete)."""
    frame = outcomes.assign(
        offer=lambda f: (f["offer_type"].fillna("") + " " + f["offer_value"].fillna("")).str.strip()
    )
    rows = []
    for (campaign, audience), group in frame.groupby(["campaign_id", "audience"], sort=True):
        holdout = group[group["is_holdout"]]
        treated = group[~group["is_holdout"]]
        if treated.empty or holdout.empty:  # nothing to compare: flagged, never made up
            rows += [
                {
                    "campaign_id": campaign,
                    "audience": audience,
                    "offer": "all offers",
                    "measure": measure,
                    "sent": len(treated),
                    "holdout": len(holdout),
                    "is_significant": False,
                    "detectable_conversion_lift": float("inf"),
                    "holdout_can_measure": False,
                }
                for measure in (*MEASURES, "incremental_revenue")
            ]
            continue
        offers = [("all offers", treated), *treated.groupby("offer", sort=True)]
        base_rate = float(group["converted"].mean())
        for offer, sent in offers:
            detectable = minimum_detectable_lift(len(sent), len(holdout), base_rate)
            # too small to measure anything: not even a tripling of the rate would show
            measurable = len(holdout) >= MIN_HOLDOUT and detectable <= 2 * base_rate
            lifts = measure_lift(
                sent["converted"].to_numpy(float),
                sent["revenue_usd"].to_numpy(float),
                holdout["converted"].to_numpy(float),
                holdout["revenue_usd"].to_numpy(float),
                rounds=rounds,
            )
            for lift in lifts.values():
                rows.append(
                    {
                        "campaign_id": campaign,
                        "audience": audience,
                        "offer": offer,
                        "measure": lift.measure,
                        "sent": len(sent),
                        "holdout": len(holdout),
                        "treated_value": lift.treated,
                        "holdout_value": lift.holdout,
                        "lift": lift.lift,
                        "lift_low": lift.low,
                        "lift_high": lift.high,
                        "relative_lift": lift.relative,
                        "is_significant": lift.significant,
                        "detectable_conversion_lift": detectable,
                        "holdout_can_measure": measurable,
                    }
                )
    return pd.DataFrame(rows, columns=LIFT_COLUMNS)
