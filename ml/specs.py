"""What each model predicts, from which snapshot, judged by which metric against which baseline.

One spec per published model. The quality gate reads its rules from here: the model must beat
every baseline on `main_metric` and pass `floor`; below `min_examples` no model is fitted and
the gate says so, like the eligibility rules of the commercial tools (Klaviyo wants 500 buyers,
GA4 1,000 positive and negative examples; a small shop here gets a model earlier, with the
uncertainty its test size implies). Scoring reads from here which columns of
`scores.customer_scores` a model fills, so a new model is a spec, its baselines
(`ml.baselines.BASELINES`) and its columns downstream, with no model name in the scoring or
orchestration code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

Kind = Literal["classifier", "tweedie", "peer_quantile", "survival"]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: Kind
    snapshot: Literal["customer", "cross_sell"]
    label: str
    horizon: Literal["propensity", "ltv"]
    main_metric: str
    higher_is_better: bool
    floor: tuple[str, float]  # (metric, minimum) on the test cutoff
    baselines: tuple[str, ...]
    description: str
    eligible: Callable[[pd.DataFrame], pd.Series] = field(
        default=lambda frame: pd.Series(True, index=frame.index)
    )
    min_examples: int = 30  # positives (classifiers) or non-zero targets, in train and in test
    quantile: float = 0.9
    offset: str | None = None  # a revenue model's run-rate feature (ml.train.run_rate_margin)
    # the column of scores.customer_scores its prediction fills; None where the model scores
    # other rows (cross-sell: a row per person and category, scores.cross_sell_candidates)
    score_column: str | None = None
    ranked: bool = False  # a percentile rank beside it, `<score_column>_rank`, for audience rules
    derived_scores: tuple[str, ...] = ()  # further columns from it (ml.score.DERIVED_SCORES)
    # churn risk (1 - P for past buyers) is judged on past buyers beside this baseline's
    churn_baseline: str | None = None
    # the next_best_offers column naming what this model's offer is: its reasons are given
    # to the people an audience sends to (scores.offer_reasons, `<name>_reasons`)
    offer_column: str | None = None


def past_buyers(frame: pd.DataFrame) -> pd.Series:
    return frame["orders_count"] > 0


SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            name="purchase_propensity",
            kind="classifier",
            snapshot="customer",
            label="label_purchased_90d",
            horizon="propensity",
            main_metric="roc_auc",
            higher_is_better=True,
            floor=("roc_auc", 0.6),
            # RFM cells, and BG/NBD's and Pareto/NBD's P(at least one purchase day in the horizon)
            baselines=("rfm", "bgnbd", "pareto_nbd"),
            description="P(any paid order within the propensity horizon); churn risk = 1 - P "
            "for past buyers.",
            score_column="purchase_propensity",
            ranked=True,
            derived_scores=("churn_risk",),
            churn_baseline="rfm",
        ),
        ModelSpec(
            name="days_to_next_order",
            kind="survival",
            snapshot="customer",
            label="label_days_to_next_order",
            horizon="propensity",
            main_metric="c_index",
            higher_is_better=True,
            floor=("c_index", 0.55),
            # the rule a CRM ships (average gap - recency), and a censoring-aware RFM rule
            baselines=("purchase_rhythm", "rfm_cell_hazard"),
            description="Expected days to the next paid order, for people with 2+ orders: an "
            "accelerated failure time survival model, so people who have not bought again yet "
            "count as censored, not as never.",
            eligible=lambda frame: frame["orders_count"] >= 2,
            score_column="expected_days_to_next_order",
        ),
        ModelSpec(
            name="cross_sell",
            kind="classifier",
            snapshot="cross_sell",
            label="label_first_category_purchase_90d",
            horizon="propensity",
            main_metric="roc_auc",
            higher_is_better=True,
            floor=("roc_auc", 0.6),
            # popularity among similar customers, and the person's own views of the category
            baselines=("similar_customers_popularity", "personal_category_interest"),
            description="P(first purchase in a category not bought yet, within the propensity "
            "horizon); one model over customer x category rows.",
            eligible=past_buyers,
            offer_column="cross_sell_category",
        ),
        ModelSpec(
            name="upsell",
            kind="classifier",
            snapshot="customer",
            label="label_upsell_90d",
            horizon="propensity",
            main_metric="roc_auc",
            higher_is_better=True,
            floor=("roc_auc", 0.6),
            baselines=("recent_family_next_tier",),
            description="P(buys a higher tier than before in a family already owned, within "
            "the propensity horizon), for people who own a family below its top tier.",
            eligible=lambda frame: frame["families_below_top_tier"] > 0,
            score_column="upsell_propensity",
            ranked=True,
            offer_column="upsell_product_id",
        ),
        ModelSpec(
            name="expected_ltv",
            kind="tweedie",
            snapshot="customer",
            label="label_ltv_revenue_usd",
            horizon="ltv",
            main_metric="normalized_gini",
            higher_is_better=True,
            floor=("normalized_gini", 0.2),
            baselines=(
                "last_period_spend",
                "bgnbd_gamma_gamma",
                "pareto_nbd_gamma_gamma",
            ),
            description="Paid revenue within the LTV horizon: zero-heavy, so a Tweedie "
            "objective (a point mass at zero and a skewed positive part in one likelihood). "
            "The trees correct the person's own run rate (revenue per 30 days as a customer), "
            "and the total is calibrated to the actual revenue of the validation cutoff.",
            offset="revenue_per_30d_usd",
            score_column="expected_ltv_usd",
        ),
        ModelSpec(
            name="potential_ltv",
            kind="peer_quantile",
            snapshot="customer",
            label="label_ltv_revenue_usd",
            horizon="ltv",
            main_metric="pinball_loss",
            higher_is_better=False,
            floor=("coverage", 0.8),
            baselines=("rfm_cell_quantile",),
            description="For past buyers: what the top tenth of similar customers went on to "
            "spend within the LTV horizon (an upper level that people like them did reach, not a "
            "ceiling). Similar means in the same band of expected revenue, from trees fitted as "
            "expected LTV's are; each band's 0.9 quantile of actual revenue is read on the "
            "validation cutoff, which the trees did not fit. Headroom = potential - the person's "
            "spend today (last period's, at the horizon's length), never below 0. Published only "
            "if headroom also ranks realised growth (next horizon's revenue minus last period's) "
            "better than the gap to the segment's median, with the interval above 0. Prospects "
            "get no headroom: their value if converted is shown with their chance of converting.",
            offset="revenue_per_30d_usd",
            eligible=past_buyers,
            score_column="potential_ltv_usd",
            derived_scores=("ltv_headroom_usd", "value_if_converted_usd"),
        ),
    ]
}

# the models whose offers are sent, with the reasons behind them (ml.score.offer_reasons)
OFFER_SPECS = [spec for spec in SPECS.values() if spec.offer_column]
# the model that scores a row per person and category (scores.cross_sell_candidates, which
# next_best_offers ranks) instead of a column of scores.customer_scores
(CANDIDATES_SPEC,) = [spec for spec in SPECS.values() if spec.snapshot == "cross_sell"]
