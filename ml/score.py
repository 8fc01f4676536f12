"""Score the latest snapshot with the published models: customer_scores and next_best_offers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ml.data import read_calendar, read_snapshot
from ml.explain import top_reasons
from ml.offers import OFFER_COLUMNS, best_offers
from ml.specs import SPECS
from ml.train import TrainedModel, headroom
from ml.uplift import UpliftModel
from nextsale.warehouse import DuckDBWarehouse, Warehouse, as_warehouse

SCORES_SCHEMA = "scores"


def _on_eligible(name: str, model: TrainedModel | None, frame: pd.DataFrame) -> pd.Series:
    """The model's prediction where its spec applies; null elsewhere or without a model."""
    out = pd.Series(np.nan, index=frame.index)
    if model is None or frame.empty:
        return out
    rows = SPECS[name].eligible(frame)
    if rows.any():
        out[rows] = model.predict(frame[rows])
    return out


def customer_scores(
    warehouse: Warehouse | Path, models: dict[str, TrainedModel | None]
) -> pd.DataFrame:
    """One row per person in the scoring snapshot: every score, LTV figures, segment, versions."""
    warehouse = as_warehouse(warehouse)
    people = read_snapshot(warehouse, "customer", "scoring")
    segments = warehouse.query(
        "select customer_key, rfm_segment, lifecycle_stage, value_tier from marts.customer_segments"
    )
    propensity = _on_eligible("purchase_propensity", models.get("purchase_propensity"), people)
    expected = _on_eligible("expected_ltv", models.get("expected_ltv"), people)
    potential_model = models.get("potential_ltv")
    potential = _on_eligible("potential_ltv", potential_model, people)
    prospect = people["orders_count"] <= 0
    ltv_days = read_calendar(warehouse).horizon_days(SPECS["potential_ltv"])
    converted_value = potential_model.value_if_converted if potential_model else None
    scores = pd.DataFrame(
        {
            "customer_key": people["customer_key"],
            "as_of_date": people["cutoff_date"],
            "purchase_propensity": propensity,
            # a rank beside the calibrated probability, for audience rules ("top 20 %")
            "purchase_propensity_rank": propensity.rank(pct=True),
            "churn_risk": (1 - propensity).where(people["orders_count"] > 0),
            "expected_days_to_next_order": _on_eligible(
                "days_to_next_order", models.get("days_to_next_order"), people
            ),
            "upsell_propensity": _on_eligible("upsell", models.get("upsell"), people),
            "expected_ltv_usd": expected,
            "potential_ltv_usd": potential,
            # past buyers only: what similar customers reach beyond the person's spend today
            "ltv_headroom_usd": pd.Series(
                headroom(people, potential, ltv_days), people.index
            ).where(potential.notna()),
            # prospects only, read beside purchase_propensity; never part of headroom
            "value_if_converted_usd": pd.Series(
                np.nan if converted_value is None else converted_value, index=people.index
            ).where(prospect),
        }
    )
    scores["upsell_propensity_rank"] = scores["upsell_propensity"].rank(pct=True)
    scores = scores.merge(segments, on="customer_key", how="left")
    scores["model_versions"] = json.dumps(
        {name: (model.version if model else None) for name, model in sorted(models.items())}
    )
    scores["scored_at"] = scored_at(as_warehouse(warehouse), scores)
    return scores


def scored_at(warehouse: Warehouse, scores: pd.DataFrame) -> datetime:
    """When these scores were first computed: now, or the stored table's time where scoring
    again gave the same scores, so that a re-run on unchanged inputs changes nothing that
    activation reads (and its dbt step is reused)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    if not isinstance(warehouse, DuckDBWarehouse) or not len(scores):
        return now
    stored = warehouse.query(
        "select count(*) as n from information_schema.tables "
        f"where table_schema = '{SCORES_SCHEMA}' and table_name = 'customer_scores'"
    )
    if not stored["n"].iloc[0]:
        return now
    same = warehouse.query(
        f"""
        with stored as (select * exclude (scored_at) from {SCORES_SCHEMA}.customer_scores)
        select
            (select count(*) from stored) = (select count(*) from fresh)
            and (select sum(hash(t)) from stored t) = (select sum(hash(t)) from fresh t) as same,
            (select max(scored_at) from {SCORES_SCHEMA}.customer_scores) as scored_at
        """,
        fresh=scores,
    ).iloc[0]
    return same["scored_at"].to_pydatetime() if same["same"] else now


def next_best_offers(
    warehouse: Warehouse | Path,
    cross_sell: TrainedModel | None,
    upsell: TrainedModel | None,
    offer_model: tuple[UpliftModel, list[str], str] | None = None,
) -> pd.DataFrame:
    """Per past buyer: the cross-sell category with the highest propensity x margin and the
    product in it that best goes with what they own (product_affinity), and the upsell product
    (product_upgrade_paths) from their most recent family; with the published offer model
    (ml.offers.load), the offer type and channel with the highest expected incremental margin
    and why. The reasons for the offers come later, for the people sent them (offer_reasons)."""
    warehouse = as_warehouse(warehouse)
    people = read_snapshot(warehouse, "customer", "scoring")
    buyers = people[people["orders_count"] > 0]
    # every not-yet-bought category a buyer could be offered, with its propensity; SQL below
    # picks the best by expected margin
    candidates = pd.DataFrame(
        {
            "component_id": pd.Series(dtype="string"),
            "category": pd.Series(dtype="string"),
            "cross_sell_propensity": pd.Series(dtype="float64"),
        }
    )
    if cross_sell is not None:
        rows = read_snapshot(warehouse, "cross_sell", "scoring")
        rows = rows[SPECS["cross_sell"].eligible(rows)]
        if not rows.empty:
            candidates = rows.assign(cross_sell_propensity=cross_sell.predict(rows))
    offers = warehouse.query(
        OFFERS_SQL,
        buyers=buyers[["cutoff_date", "component_id", "customer_key"]],
        candidates=candidates[["component_id", "category", "cross_sell_propensity"]],
    )
    offers["upsell_propensity"] = np.nan
    if upsell is not None and not offers.empty:
        # only people offered an upgrade: the score is used for nobody else
        upgrades = offers.loc[offers["upsell_product_id"].notna(), "component_id"]
        owners = buyers[buyers["component_id"].isin(upgrades)]
        owners = owners[SPECS["upsell"].eligible(owners)]
        if not owners.empty:
            owners = owners.assign(upsell_propensity=upsell.predict(owners))
            offers = offers.drop(columns=["upsell_propensity"]).merge(
                owners[["component_id", "upsell_propensity"]], on="component_id", how="left"
            )
    typical_order = float(buyers["average_order_value_usd"].median())
    offers = offers.merge(
        offer_choices(warehouse, offer_model, offers, typical_order), on="customer_key", how="left"
    )
    # fixed types: a column that is all null (no model published yet) must still be text/number
    text = [
        "cross_sell_category",
        "cross_sell_product_id",
        "upsell_product_id",
        "upsell_from_product_id",
        "offer_type",
        "offer_channel",
        "offer_reason",
    ]
    numbers = ["cross_sell_propensity", "cross_sell_expected_margin_usd", "upsell_propensity",
               "offer_discount_percent", "offer_order_chance_uplift",
               "offer_expected_incremental_margin_usd"]  # fmt: skip
    return offers.drop(columns=["component_id"]).astype(
        {**dict.fromkeys(text, "string"), **dict.fromkeys(numbers, "float64")}
    )


def offer_reasons(
    warehouse: Warehouse | Path, cross_sell: TrainedModel | None, upsell: TrainedModel | None
) -> pd.DataFrame:
    """Why each offer suits the person, in words (exact TreeSHAP, ml.explain), for every person
    an audience will send to (activation_candidates.audience_members, is_sendable): the reasons
    for their cross-sell category and for their upgrade. Nobody else is explained: a person no
    audience sends to reads no reasons, and explaining everyone cost most of scoring."""
    sent, rows = rows_to_explain(warehouse, {"cross_sell": cross_sell, "upsell": upsell})
    reasons = sent[["customer_key"]].assign(cross_sell_reasons=None, upsell_reasons=None)
    for name, model in (("cross_sell", cross_sell), ("upsell", upsell)):
        if name in rows:
            explained = rows[name][["component_id"]].assign(reasons=top_reasons(model, rows[name]))
            reasons[f"{name}_reasons"] = _by_person(sent, explained, "reasons")
    return reasons.astype({"cross_sell_reasons": "string", "upsell_reasons": "string"})


def rows_to_explain(
    warehouse: Warehouse | Path, models: dict[str, TrainedModel | None]
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The people an audience will send to with their offers (SENT_OFFERS_SQL), and per model
    ("cross_sell", "upsell") that has one, the snapshot rows its offers were scored on: the
    person and their cross-sell category, or the person as an upgrade's owner."""
    warehouse = as_warehouse(warehouse)
    sent = warehouse.query(SENT_OFFERS_SQL)
    wanted = {
        "cross_sell": sent.dropna(subset=["cross_sell_category"]).rename(
            columns={"cross_sell_category": "category"}
        )[["component_id", "category"]],
        "upsell": sent.dropna(subset=["upsell_product_id"])[["component_id"]],
    }
    rows = {}
    for name, keys in wanted.items():
        if models.get(name) is not None and not keys.empty:
            frame = read_snapshot(warehouse, SPECS[name].snapshot, "scoring", keys)
            rows[name] = frame[SPECS[name].eligible(frame)]
    return sent, rows


def _by_person(sent: pd.DataFrame, explained: pd.DataFrame, column: str) -> np.ndarray:
    """`column` of `explained` (by component_id) in the row order of `sent`."""
    return sent[["component_id"]].merge(explained, on="component_id", how="left")[column].to_numpy()


# The people an audience will send to, with their offers (the scoring snapshot has one row per
# person, so the component is theirs at the scoring cutoff).
SENT_OFFERS_SQL = """
select offers.customer_key, snapshot.component_id, offers.cross_sell_category,
       offers.upsell_product_id
from scores.next_best_offers as offers
inner join ml.ml_scoring_snapshot as snapshot on snapshot.customer_key = offers.customer_key
where (offers.cross_sell_category is not null or offers.upsell_product_id is not null)
  and offers.customer_key in (
      select customer_key from activation_candidates.audience_members where is_sendable
  )
order by offers.customer_key
"""


def offer_choices(
    warehouse: Warehouse, offer_model: tuple[UpliftModel, list[str], str] | None,
    offers: pd.DataFrame, typical_order_usd: float,
) -> pd.DataFrame:  # fmt: skip
    """The offer model's pick for each person in `offers`, on a channel they consented to;
    a person without an order value of their own is valued at the typical order."""
    if offer_model is None or offers.empty:
        empty = pd.DataFrame({"customer_key": offers["customer_key"]})
        return empty.assign(**dict.fromkeys(OFFER_COLUMNS, None),
                            offer_reason="no offer model is published yet")  # fmt: skip
    model, features, _ = offer_model
    people = warehouse.query(OFFER_PEOPLE_SQL, keys=offers[["customer_key"]])
    margin_rate = float(warehouse.query(MARGIN_RATE_SQL)["margin_rate"].iloc[0])
    return best_offers(model, features, people, margin_rate, typical_order_usd)


# the people to pick an offer for, with their consent; and the shop's typical margin (revenue
# where the catalogue has no margins, as for cross-sell)
OFFER_PEOPLE_SQL = """
select snapshot.*, people.is_email_opt_in, people.is_sms_opt_in
from ml.ml_offer_scoring_snapshot as snapshot
inner join keys on keys.customer_key = snapshot.customer_key
inner join marts.customer_360 as people on people.customer_key = snapshot.customer_key
"""

MARGIN_RATE_SQL = """
select coalesce(avg(margin_rate), 1.0) as margin_rate
from staging.stg_shop__products
where is_active
"""


# Portable SQL (DuckDB and Postgres): `buyers` and `candidates` are the frames passed along.
OFFERS_SQL = """
with

scoring_lines as (

    select lines.*
    from intermediate.int_identity__lines_by_cutoff as lines
    inner join buyers
        on buyers.cutoff_date = lines.cutoff_date and buyers.component_id = lines.component_id
    where lines.is_paid

),

category_margins as (

    -- margin of a typical sale in the category; where the catalogue has no margins, revenue
    select category,
           percentile_cont(0.5) within group (order by price * coalesce(margin_rate, 1.0)) as margin_usd
    from staging.stg_shop__products
    where is_active and category is not null
    group by category

),

best_category as (

    select component_id, category, cross_sell_propensity,
           cross_sell_propensity * coalesce(margin_usd, 0) as cross_sell_expected_margin_usd
    from (
        select candidates.*, category_margins.margin_usd,
               row_number() over (
                   partition by candidates.component_id
                   order by candidates.cross_sell_propensity * coalesce(category_margins.margin_usd, 0) desc,
                            candidates.category
               ) as pick
        from candidates
        left join category_margins using (category)
    ) as ranked
    where pick = 1

),

affinity_products as (

    -- products of the chosen category that go best with something the person bought
    select best_category.component_id, affinity.other_product_id as product_id,
           max(affinity.lift) as lift
    from best_category
    inner join (select distinct component_id, product_id from scoring_lines) as owned
        on owned.component_id = best_category.component_id
    inner join marts.product_affinity as affinity on affinity.product_id = owned.product_id
    inner join staging.stg_shop__products as products
        on products.product_id = affinity.other_product_id
        and products.category = best_category.category
        and products.is_active
    group by best_category.component_id, affinity.other_product_id

),

best_affinity_product as (

    select component_id, product_id
    from (
        select component_id, product_id,
               row_number() over (partition by component_id order by lift desc, product_id) as pick
        from affinity_products
    ) as ranked
    where pick = 1

),

best_seller as (

    -- per category, the product in the most paid orders at the scoring cutoff
    select category, product_id
    from (
        select products.category, lines.product_id,
               row_number() over (
                   partition by products.category
                   order by count(distinct lines.order_id) desc, lines.product_id
               ) as pick
        from intermediate.int_identity__lines_by_cutoff as lines
        inner join staging.stg_shop__products as products
            on products.product_id = lines.product_id and products.is_active
        where lines.is_paid and lines.cutoff_date = (select max(cutoff_date) from buyers)
        group by products.category, lines.product_id
    ) as ranked
    where pick = 1

),

upsell as (

    -- the next tier up from the most recently bought product that has one
    select component_id, upgrade_product_id as upsell_product_id,
           product_id as upsell_from_product_id
    from (
        select lines.component_id, paths.upgrade_product_id, paths.product_id,
               row_number() over (
                   partition by lines.component_id
                   order by lines.created_at desc, paths.product_id, paths.upgrade_product_id
               ) as pick
        from scoring_lines as lines
        inner join marts.product_upgrade_paths as paths on paths.product_id = lines.product_id
    ) as ranked
    where pick = 1

)

select
    buyers.customer_key,
    buyers.component_id,
    buyers.cutoff_date as as_of_date,
    best_category.category as cross_sell_category,
    coalesce(best_affinity_product.product_id, best_seller.product_id) as cross_sell_product_id,
    case when best_category.category is not null
         then best_affinity_product.product_id is not null end as cross_sell_backed_by_affinity,
    best_category.cross_sell_propensity,
    best_category.cross_sell_expected_margin_usd,
    upsell.upsell_product_id,
    upsell.upsell_from_product_id
from buyers
left join best_category on best_category.component_id = buyers.component_id
left join best_affinity_product on best_affinity_product.component_id = buyers.component_id
left join best_seller on best_seller.category = best_category.category
left join upsell on upsell.component_id = buyers.component_id
"""


def write_table(warehouse: Warehouse | Path, name: str, frame: pd.DataFrame) -> int:
    """Replace scores.<name> with the frame in one transaction; returns the rows written."""
    return as_warehouse(warehouse).replace_table(SCORES_SCHEMA, name, frame)
