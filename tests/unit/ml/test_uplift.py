"""Uplift models and their measures on a simulated randomised experiment whose true effects are
known, and the Hillstrom evaluation on a slice of the real experiment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from ml.uplift import CONTROL, UpliftModel, qini_coefficient, qini_curve, uplift_at
from nextsale_lab.evaluate_uplift import evaluate_uplift, write_doc
from nextsale_lab.importers import DEFAULT_SOURCE


def experiment(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series, np.ndarray, dict]:
    """Two offers sent at random. Whether a person visits anyway rises with `engagement`; the
    discount persuades only the price-sensitive and the product e-mail only category fans, and
    the discount puts off the least sensitive a little (sleeping dogs)."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {
            "engagement": rng.random(n),
            "price_sensitivity": rng.random(n),
            "category_fan": rng.integers(0, 2, n),
            "noise": rng.random(n),
        }
    )
    arm = pd.Series(rng.choice([CONTROL, "discount", "product"], n))
    base = 0.05 + 0.5 * x["engagement"].to_numpy()
    effect = {
        "discount": 0.20 * (x["price_sensitivity"].to_numpy() > 0.7)
        - 0.03 * (x["price_sensitivity"].to_numpy() < 0.2),
        "product": 0.15 * x["category_fan"].to_numpy(),
    }
    p = base + sum(np.where(arm == a, e, 0.0) for a, e in effect.items())
    y = (rng.random(n) < np.clip(p, 0, 1)).astype(float)
    return x, arm, y, effect


@pytest.fixture(scope="module")
def trial():
    train = experiment(30_000, seed=1)
    test = experiment(15_000, seed=2)
    models = {kind: UpliftModel(kind, binary=True).fit(*train[:3]) for kind in ("t", "x")}
    return models, test


@pytest.mark.parametrize("kind", ["t", "x"])
def test_the_learners_recover_the_planted_effects(trial, kind):
    models, (x, _, _, effect) = trial
    for arm, truth in effect.items():
        estimate = models[kind].uplift(x, arm)
        assert spearmanr(estimate, truth).statistic > 0.6, arm
    # the discount's persuadables are found: the top fifth is mostly price-sensitive
    top = np.argsort(-models[kind].uplift(x, "discount"))[: len(x) // 5]
    assert (x["price_sensitivity"].to_numpy()[top] > 0.7).mean() > 0.8


@pytest.mark.parametrize("kind", ["t", "x"])
def test_uplift_targeting_beats_propensity_and_random_on_qini(trial, kind):
    models, (x, arm, y, _) = trial
    for offer in ("discount", "product"):
        rows = (arm == offer) | (arm == CONTROL)
        xs, treated, ys = x[rows.to_numpy()], (arm[rows] == offer).to_numpy(), y[rows.to_numpy()]
        uplift = qini_coefficient(models[kind].uplift(xs, offer), treated, ys)
        propensity = qini_coefficient(models["t"].response(xs, offer), treated, ys)
        assert uplift > 1.25 * max(propensity, 0.0) and uplift > 0.005, (offer, uplift, propensity)


def test_qini_of_a_score_that_knows_nothing_is_the_random_line():
    rng = np.random.default_rng(0)
    treated, y = rng.random(20_000) < 0.5, (rng.random(20_000) < 0.2).astype(float)
    assert abs(qini_coefficient(np.zeros(20_000), treated, y)) < 0.003
    share, gain = qini_curve(np.zeros(20_000), treated, y)
    assert share[0] == 0 and gain[0] == 0 and share[-1] == 1


def test_qini_and_uplift_at_k_by_hand():
    # four treated and four control; the score puts the treated responders first
    score = np.array([8, 7, 6, 5, 4, 3, 2, 1], dtype=float)
    treated = np.array([1, 1, 0, 0, 1, 0, 1, 0], dtype=bool)
    y = np.array([1, 1, 0, 0, 0, 1, 0, 1], dtype=float)
    # top half: treated rate 2/2, control rate 0/2
    assert uplift_at(score, treated, y, 0.5) == 1.0
    # everyone: 2/4 - 2/4 = 0 incremental, so the random line is flat and the curve above it
    assert qini_coefficient(score, treated, y) > 0
    assert qini_coefficient(-score, treated, y) < 0


@pytest.mark.skipif(
    not (DEFAULT_SOURCE / "hillstrom").is_dir(), reason="the Hillstrom data set is not here"
)
def test_hillstrom_evaluation_reports_each_scorer_with_intervals(tmp_path):
    results = evaluate_uplift(sample=True, bootstrap_rounds=20, splits=3)
    repeated = pd.DataFrame(results["repeated_splits"])
    # every learner and propensity targeting, per e-mail, over the splits
    assert set(repeated["scorer"]) == {"s_learner", "t_learner", "x_learner", "propensity"}
    assert (repeated["splits"] == 3).all()
    assert all(
        lo <= m <= hi
        for (lo, hi), m in zip(repeated["qini_range"], repeated["qini_mean"], strict=True)
    )
    assert (repeated.loc[repeated["scorer"] == "propensity", "minus_propensity_mean"] == 0).all()
    targeting = pd.DataFrame(results["targeting"])
    learners = {"s_learner", "t_learner", "x_learner"}
    assert set(targeting["scorer"]) == learners | {"propensity", "random"}
    assert set(targeting["arm"]) == {"mens_email", "womens_email"}
    assert set(targeting["outcome"]) == {"visit", "conversion", "spend"}
    for row in results["targeting"]:
        low, high = row["qini_ci"]
        assert low <= high
    lift = pd.DataFrame(results["lift"])
    assert set(lift["measure"]) == {
        "visit_rate",
        "conversion_rate",
        "revenue_per_member",
        "average_order_value",
        "incremental_revenue",
    }
    visits = lift[lift["measure"] == "visit_rate"]
    assert (visits["lift"] > 0).all()  # both e-mails raised visits, in the sample too
    offers = pd.DataFrame(results["offers"])
    assert "higher uplift (x_learner)" in set(offers["policy"])
    write_doc(results, 1.0, tmp_path / "uplift.md")
    assert "## visit (main outcome)" in (tmp_path / "uplift.md").read_text()
