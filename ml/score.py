"""Score the latest snapshot with the published models: customer_scores, the cross-sell
candidates and offer choices that dbt's next_best_offers ranks and joins, and the reasons
behind the offers of the people an audience sends to."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ml import relations
from ml.data import SNAPSHOT_KEYS, Calendar, read_calendar, read_snapshot
from ml.explain import top_reasons
from ml.offers import OFFER_COLUMNS, best_offers
from ml.specs import CANDIDATES_SPEC, OFFER_SPECS, SPECS, ModelSpec
from ml.train import TrainedModel, headroom
from ml.uplift import UpliftModel
from nextsale.warehouse import DuckDBWarehouse, Warehouse, as_warehouse

SCORES_SCHEMA = "scores"


def _on_eligible(spec: ModelSpec, model: TrainedModel | None, frame: pd.DataFrame) -> pd.Series:
    """The model's prediction where its spec applies; null elsewhere or without a model."""
    out = pd.Series(np.nan, index=frame.index)
    if model is None or frame.empty:
        return out
    rows = spec.eligible(frame)
    if rows.any():
        out[rows] = model.predict(frame[rows])
    return out


@dataclass(frozen=True)
class Scored:
    """One model's prediction over the scoring snapshot, with what a derived score reads."""

    spec: ModelSpec
    model: TrainedModel | None
    people: pd.DataFrame
    prediction: pd.Series
    calendar: Calendar


def _churn_risk(s: Scored) -> pd.Series:
    return (1 - s.prediction).where(s.people["orders_count"] > 0)


def _ltv_headroom(s: Scored) -> pd.Series:
    # past buyers only: what similar customers reach beyond the person's spend today
    days = s.calendar.horizon_days(s.spec)
    return pd.Series(headroom(s.people, s.prediction, days), s.people.index).where(
        s.prediction.notna()
    )


def _value_if_converted(s: Scored) -> pd.Series:
    # prospects only, read beside purchase_propensity; never part of headroom
    value = s.model.value_if_converted if s.model else None
    return pd.Series(np.nan if value is None else value, index=s.people.index).where(
        s.people["orders_count"] <= 0
    )


# The columns a spec may ask for beside its score (ml.specs.ModelSpec.derived_scores).
DERIVED_SCORES: dict[str, Callable[[Scored], pd.Series]] = {
    "churn_risk": _churn_risk,
    "ltv_headroom_usd": _ltv_headroom,
    "value_if_converted_usd": _value_if_converted,
}


def customer_scores(
    warehouse: Warehouse | Path, models: Mapping[str, TrainedModel | None]
) -> pd.DataFrame:
    """One row per person in the scoring snapshot: the columns each spec declares (its score,
    a rank beside it, what is derived from it), the segment, the model versions."""
    warehouse = as_warehouse(warehouse)
    people = read_snapshot(warehouse, "customer", "scoring")
    segments = warehouse.query(
        "select customer_key, rfm_segment, lifecycle_stage, value_tier "
        f"from {relations.CUSTOMER_SEGMENTS}"
    )
    calendar = read_calendar(warehouse)
    columns = {"customer_key": people["customer_key"], "as_of_date": people["cutoff_date"]}
    for spec in SPECS.values():
        if spec.score_column is None:
            continue
        model = models.get(spec.name)
        scored = Scored(spec, model, people, _on_eligible(spec, model, people), calendar)
        columns[spec.score_column] = scored.prediction
        if spec.ranked:  # a rank beside the score, for audience rules ("top 20 %")
            columns[f"{spec.score_column}_rank"] = scored.prediction.rank(pct=True)
        columns |= {name: DERIVED_SCORES[name](scored) for name in spec.derived_scores}
    scores = pd.DataFrame(columns).merge(segments, on="customer_key", how="left")
    scores["model_versions"] = json.dumps(
        {name: (model.version if model else None) for name, model in sorted(models.items())}
    )
    scores["scored_at"] = scored_at(warehouse, scores)
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


def cross_sell_candidates(
    warehouse: Warehouse | Path, cross_sell: TrainedModel | None
) -> pd.DataFrame:
    """Every category a past buyer has not bought yet and could be offered, with the published
    cross-sell model's propensity (none without a model). The dbt model next_best_offers ranks
    them by propensity x margin and picks the product."""
    candidates = pd.DataFrame(
        {
            "component_id": pd.Series(dtype="string"),
            "category": pd.Series(dtype="string"),
            "cross_sell_propensity": pd.Series(dtype="float64"),
        }
    )
    if cross_sell is None:
        return candidates
    rows = read_snapshot(warehouse, CANDIDATES_SPEC.snapshot, "scoring")
    rows = rows[CANDIDATES_SPEC.eligible(rows)]
    if rows.empty:
        return candidates
    return rows.assign(cross_sell_propensity=cross_sell.predict(rows))[list(candidates.columns)]


def offer_reasons(
    warehouse: Warehouse | Path, models: Mapping[str, TrainedModel | None]
) -> pd.DataFrame:
    """Why each offer suits the person, in words (exact TreeSHAP, ml.explain), for every person
    an audience will send to (activation_candidates.audience_members, is_sendable): per model
    whose offers are sent (ml.specs.OFFER_SPECS), `<model>_reasons`, null without a model.
    Nobody else is explained: a person no audience sends to reads no reasons, and explaining
    everyone cost most of scoring."""
    sent, rows = rows_to_explain(warehouse, models)
    reasons = sent[["customer_key"]].assign(**{f"{s.name}_reasons": None for s in OFFER_SPECS})
    for name, frame in rows.items():
        model = models[name]
        assert model is not None  # rows_to_explain reads rows only for the models given
        explained = frame[["component_id"]].assign(reasons=top_reasons(model, frame))
        reasons[f"{name}_reasons"] = _by_person(sent, explained, "reasons")
    return reasons.astype({f"{s.name}_reasons": "string" for s in OFFER_SPECS})


def rows_to_explain(
    warehouse: Warehouse | Path, models: Mapping[str, TrainedModel | None]
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The people an audience will send to with their offers (relations.SENT_OFFERS_SQL), and
    per offer model given, the snapshot rows its offers were scored on: the person, with the
    offer's key where the snapshot has a row per offer (a cross-sell category)."""
    warehouse = as_warehouse(warehouse)
    sent = warehouse.query(relations.SENT_OFFERS_SQL)
    rows = {}
    for spec in OFFER_SPECS:
        assert spec.offer_column is not None  # what OFFER_SPECS holds
        person, *offer = SNAPSHOT_KEYS[spec.snapshot]
        keys = sent.dropna(subset=[spec.offer_column])
        if offer:  # the snapshot has a row per offer: the sent offer names it
            keys = keys.rename(columns={spec.offer_column: offer[0]})
        keys = keys[[person, *offer]]
        if models.get(spec.name) is not None and not keys.empty:
            frame = read_snapshot(warehouse, spec.snapshot, "scoring", keys)
            rows[spec.name] = frame[spec.eligible(frame)]
    return sent, rows


def _by_person(sent: pd.DataFrame, explained: pd.DataFrame, column: str) -> np.ndarray:
    """`column` of `explained` (by component_id) in the row order of `sent`."""
    return sent[["component_id"]].merge(explained, on="component_id", how="left")[column].to_numpy()


def offer_choices(
    warehouse: Warehouse | Path, offer_model: tuple[UpliftModel, list[str], str] | None
) -> pd.DataFrame:
    """Per past buyer, the offer model's pick (ml.offers.best_offers): the offer type and
    channel with the highest expected incremental margin, on a channel they consented to, and
    why; a person without an order value of their own is valued at the typical order. Without
    a published model every buyer's reason says so. next_best_offers (dbt) joins it on."""
    warehouse = as_warehouse(warehouse)
    buyers = warehouse.query(relations.BUYERS_SQL)
    if offer_model is None or buyers.empty:
        empty = buyers[["customer_key"]].assign(**dict.fromkeys(OFFER_COLUMNS, None))
        reason = "no offer model is published yet" if offer_model is None else None
        return empty.assign(offer_reason=reason).astype(OFFER_CHOICE_TYPES)
    model, features, _ = offer_model
    people = warehouse.query(relations.OFFER_PEOPLE_SQL, keys=buyers[["customer_key"]])
    margin_rate = float(warehouse.query(relations.MARGIN_RATE_SQL)["margin_rate"].iloc[0])
    typical_order = float(buyers["average_order_value_usd"].median())
    choices = best_offers(model, features, people, margin_rate, typical_order)
    return choices.astype(OFFER_CHOICE_TYPES)


# fixed types: a column that is all null (no model published yet) must still be text/number
OFFER_CHOICE_TYPES = {
    "customer_key": "string",
    "offer_type": "string",
    "offer_discount_percent": "float64",
    "offer_channel": "string",
    "offer_order_chance_uplift": "float64",
    "offer_expected_incremental_margin_usd": "float64",
    "offer_reason": "string",
}


def write_table(warehouse: Warehouse | Path, name: str, frame: pd.DataFrame) -> int:
    """Replace scores.<name> with the frame in one transaction; returns the rows written."""
    return as_warehouse(warehouse).replace_table(SCORES_SCHEMA, name, frame)
