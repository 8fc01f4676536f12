"""Why a score is high, in words a marketer can read: the features that pushed it up most.

TreeSHAP contributions (XGBoost's `pred_contribs`) split each row's margin across features; the
three largest positive ones become short phrases such as "3 orders in the last 90 days".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.train import TrainedModel

# feature -> phrase; {v} is the value, {category} the row's category (cross-sell rows)
PHRASES = {
    "orders_count": "{v:.0f} orders so far",
    "purchase_days": "bought on {v:.0f} different days",
    "orders_last_90d": "{v:.0f} orders in the last 90 days",
    "orders_last_365d": "{v:.0f} orders in the last year",
    "revenue_usd": "${v:,.0f} spent so far",
    "orders_per_30d": "{v:.1f} orders a month as a customer",
    "revenue_per_30d_usd": "${v:,.0f} a month as a customer",
    "revenue_last_90d_usd": "${v:,.0f} spent in the last 90 days",
    "revenue_last_365d_usd": "${v:,.0f} spent in the last year",
    "average_order_value_usd": "${v:,.0f} average order",
    "recency_days": "last order {v:.0f} days ago",
    "first_order_days_ago": "customer for {v:.0f} days",
    "average_days_between_orders": "orders every {v:.0f} days on average",
    "tenure_days": "known for {v:.0f} days",
    "discounted_order_share": "{v:.0%} of orders with a discount",
    "categories_bought": "has bought in {v:.0f} categories",
    "families_owned": "owns {v:.0f} product families",
    "max_tier_owned": "owns tier {v:.0f} products",
    "families_below_top_tier": "{v:.0f} families with a higher tier to move to",
    "upgrade_views_last_90d": "viewed a higher tier of a product they own {v:.0f} times",
    "days_since_last_session": "last visit {v:.0f} days ago",
    "known_devices": "uses {v:.0f} devices",
    "known_emails": "{v:.0f} email addresses",
    "refunded_orders": "{v:.0f} refunded orders",
    "category_views_last_90d": "viewed {category} products {v:.0f} times in the last 90 days",
    "category_view_recency_days": "viewed {category} products {v:.0f} days ago",
    "category_buyer_share": "{v:.0%} of customers buy {category}",
    "primary_category": "buys mostly {v}",
    "category": "{v} suits people like them",
}
for days in (7, 30, 90):
    PHRASES |= {
        f"sessions_last_{days}d": f"{{v:.0f}} visits in the last {days} days",
        f"product_views_last_{days}d": f"{{v:.0f}} product views in the last {days} days",
        f"carts_last_{days}d": f"{{v:.0f}} add-to-carts in the last {days} days",
        f"abandoned_carts_last_{days}d": f"{{v:.0f}} abandoned carts in the last {days} days",
    }
FLAGS = {
    "is_in_crm": "in the CRM",
    "has_shop_account": "has a shop account",
    "is_b2b": "buys for a company",
}


def phrase(feature: str, value: object, category: object = None) -> str | None:
    if pd.isna(value):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return None  # reasons are evidence seen, not things that did not happen
    if feature in FLAGS:
        return FLAGS[feature] if bool(value) else None
    template = PHRASES.get(feature)
    if template is None:
        return f"{feature.replace('_', ' ')}: {value}"
    return template.format(v=value, category=category)


# Rows explained at once: XGBoost spreads a batch's TreeSHAP over every core, and a batch's
# contributions (rows x features, float32) stay tens of megabytes at any scale.
REASON_BATCH_ROWS = 100_000


def top_reasons(model: TrainedModel, frame: pd.DataFrame, top: int = 3) -> list[str]:
    """'; '-joined phrases for the `top` features that raised each row's score most (exact
    TreeSHAP), in batches of REASON_BATCH_ROWS."""
    return [
        reason
        for start in range(0, len(frame), REASON_BATCH_ROWS)
        for reason in _batch_reasons(model, frame.iloc[start : start + REASON_BATCH_ROWS], top)
    ]


def _batch_reasons(model: TrainedModel, frame: pd.DataFrame, top: int) -> list[str]:
    contributions = model.contributions(frame)[:, :-1]  # the last column is the bias
    order = np.argsort(-contributions, axis=1)[:, :top]
    values = frame[model.features].to_numpy(dtype=object)
    categories = frame["category"].to_numpy() if "category" in frame else [None] * len(frame)
    reasons = []
    for row, picks in enumerate(order):
        words = [
            phrase(model.features[f], values[row, f], categories[row])
            for f in picks
            if contributions[row, f] > 0
        ]
        reasons.append("; ".join(w for w in words if w))
    return reasons
