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

from dataclasses import dataclass

import numpy as np
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
    low, high = np.nanpercentile(draws, [2.5, 97.5], axis=0)
    lifts = {
        m: Lift(m, float(treated[k]), float(holdout[k]), float(treated[k] - holdout[k]),
                float(low[k]), float(high[k]))
        for k, m in enumerate(MEASURES)
    }  # fmt: skip
    per_member = lifts["revenue_per_member"]
    n = len(t_conv)
    lifts["incremental_revenue"] = Lift(
        "incremental_revenue", per_member.treated * n, per_member.holdout * n,
        per_member.lift * n, per_member.low * n, per_member.high * n,
    )  # fmt: skip
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
