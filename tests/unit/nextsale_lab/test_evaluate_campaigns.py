"""The observational estimate of a campaign without a holdout (nextsale_lab/evaluate_campaigns.py):
where households were chosen for their history, it must see through the choice."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nextsale_lab.evaluate_campaigns import COVARIATES, estimate


def chosen_households(effect: float, n: int = 4_000, seed: int = 0) -> pd.DataFrame:
    """Households sent a campaign mostly when they spent a lot before, and spending more
    afterwards mostly because they always do: the naive difference is the choice."""
    rng = np.random.default_rng(seed)
    history = rng.lognormal(5.0, 0.6, n)
    frame = pd.DataFrame({c: rng.random(n) for c in COVARIATES})
    frame["revenue_last_90d_usd"] = history
    frame["recency_days"] = rng.integers(1, 60, n)
    sent = rng.random(n) < 1 / (1 + np.exp(-(np.log(history) - 5.0) * 3))
    spend = 0.5 * history + rng.normal(0, 20, n) + effect * sent
    return frame.assign(treatment=np.where(sent, "sent", "not_sent"), label_revenue_usd=spend)


def test_the_estimate_removes_the_choice_that_the_naive_difference_measures():
    for effect in (0.0, 25.0):
        row = estimate(chosen_households(effect))
        assert row["naive_difference"] > effect + 40  # the households chosen spend more anyway
        assert row["effect_ci"][0] <= effect <= row["effect_ci"][1]
        assert row["imbalance_before"] > 0.5 and row["imbalance_after"] < 0.1
        assert 0 < row["compared_sent"] <= row["sent"]


def test_a_campaign_sent_to_nobody_comparable_is_not_estimated():
    frame = chosen_households(10.0)
    frame.loc[frame["treatment"] == "sent", "revenue_last_90d_usd"] = 1e6  # only the biggest
    frame.loc[frame["treatment"] == "not_sent", "revenue_last_90d_usd"] = 1.0
    row = estimate(frame)
    assert "effect" not in row and "comparable" in row["error"]
