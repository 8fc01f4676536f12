"""Measured lift against a holdout: the intervals cover a known truth, and the detectable lift
matches the two-proportion formula."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.lift import lift_table, measure_lift, minimum_detectable_lift


def groups(n_treated: int, n_holdout: int, rate_treated: float, rate_holdout: float, seed: int):
    rng = np.random.default_rng(seed)

    def group(n: int, rate: float):
        converted = (rng.random(n) < rate).astype(float)
        return converted, converted * rng.lognormal(4.0, 0.8, n)  # skewed order values

    return (*group(n_treated, rate_treated), *group(n_holdout, rate_holdout))


def test_intervals_cover_the_true_lift_and_say_when_it_is_real():
    lifts = measure_lift(*groups(40_000, 4_000, 0.06, 0.04, seed=1), rounds=500)
    rate = lifts["conversion_rate"]
    assert rate.low < 0.02 < rate.high and rate.significant
    assert rate.relative == pytest.approx(rate.lift / rate.holdout)
    aov = lifts["average_order_value"]  # the same order values on both sides: no AOV lift
    assert aov.low < 0 < aov.high and not aov.significant
    per_member = lifts["revenue_per_member"]
    incremental = lifts["incremental_revenue"]
    assert incremental.lift == pytest.approx(per_member.lift * 40_000)
    assert incremental.low == pytest.approx(per_member.low * 40_000)


def test_no_true_lift_is_not_called_significant_in_most_trials():
    calls = [
        measure_lift(*groups(5_000, 500, 0.05, 0.05, seed=s), rounds=300)[
            "conversion_rate"
        ].significant
        for s in range(20)
    ]
    assert sum(calls) <= 3  # about 1 in 20 by chance


def test_minimum_detectable_lift_is_the_two_proportion_formula():
    # z(0.975) + z(0.8) = 1.95996 + 0.84162; sqrt(0.1 * 0.9 * (1/10000 + 1/10000)) = 0.0042426
    assert minimum_detectable_lift(10_000, 10_000, 0.1) == pytest.approx(0.011886, rel=1e-3)
    # a holdout ten times smaller can only see a lift about 2.3 times larger
    small = minimum_detectable_lift(10_000, 1_000, 0.1)
    assert small / minimum_detectable_lift(10_000, 10_000, 0.1) == pytest.approx(2.345, rel=1e-2)
    assert minimum_detectable_lift(10_000, 0, 0.1) == float("inf")


def test_an_empty_group_is_an_error_not_a_number():
    empty = np.array([])
    with pytest.raises(ValueError, match="both the treated group and the holdout"):
        measure_lift(np.ones(10), np.ones(10), empty, empty)


def test_an_audience_without_a_holdout_is_flagged_not_dropped():
    outcomes = pd.DataFrame(
        {
            "campaign_id": "C1",
            "audience": ["a"] * 4 + ["b"] * 4,
            "offer_type": "discount",
            "offer_value": "10",
            "is_holdout": [False] * 4 + [False, False, True, True],
            "converted": [True, False, False, True] * 2,
            "revenue_usd": [10.0, 0, 0, 5.0] * 2,
        }
    )
    table = lift_table(outcomes, rounds=50)
    flagged = table[table["audience"] == "a"]
    assert len(flagged) == 4 and not flagged["holdout_can_measure"].any()  # one per measure
    assert flagged["holdout"].eq(0).all() and flagged["lift"].isna().all()
