"""Reading the dbt snapshots and splitting them in time.

Features come from dbt (`ml_*` marts): one macro computes them for training and scoring, so the
frames read here need no feature code of their own. The cross-sell rows get the person's
features joined on (cutoff, person), which is the same SQL output, not a second definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from ml import relations
from ml.specs import ModelSpec
from nextsale.warehouse import Warehouse, as_warehouse

ID_COLUMNS = ("cutoff_date", "customer_key", "component_id", "person_key")
TIMESTAMP_COLUMNS = ("first_order_at", "last_order_at")
CATEGORICAL_COLUMNS = ("category", "primary_category")
MAX_TRAINING_SNAPSHOT_ROWS = 3_000_000
TABLES = {
    ("customer", "training"): relations.TRAINING_SNAPSHOTS,
    ("customer", "scoring"): relations.SCORING_SNAPSHOT,
    ("cross_sell", "training"): relations.CROSS_SELL_TRAINING_SNAPSHOTS,
    ("cross_sell", "scoring"): relations.CROSS_SELL_SCORING_SNAPSHOT,
}
# What names a snapshot row past its cutoff: the person, and the offer where a snapshot holds a
# row per person and offer (the cross-sell category).
SNAPSHOT_KEYS = {"customer": ("component_id",), "cross_sell": ("component_id", "category")}


@dataclass(frozen=True)
class Calendar:
    """The dates and horizons the snapshots were built with (dbt vars, via int_calendar__cutoffs)."""

    as_of: date
    propensity_horizon_days: int
    ltv_horizon_days: int

    def horizon_days(self, spec: ModelSpec) -> int:
        return self.ltv_horizon_days if spec.horizon == "ltv" else self.propensity_horizon_days


def read_calendar(warehouse: Warehouse | Path) -> Calendar:
    row = (
        as_warehouse(warehouse)
        .query(
            "select as_of_date, propensity_horizon_days, ltv_horizon_days "
            f"from {relations.CALENDAR} where is_scoring"
        )
        .iloc[0]
    )
    return Calendar(
        pd.Timestamp(row["as_of_date"]).date(),
        int(row["propensity_horizon_days"]),
        int(row["ltv_horizon_days"]),
    )


def read_snapshot(
    warehouse: Warehouse | Path, snapshot: str, purpose: str, only: pd.DataFrame | None = None
) -> pd.DataFrame:
    """A snapshot as pandas; cross-sell rows carry the person's features too. `only` keeps the
    rows whose keys it lists (component_id, and category for cross-sell rows).

    Training snapshots larger than MAX_TRAINING_SNAPSHOT_ROWS are read for a stable random
    sample of people (hashed component ids, the same at every run): past that, more rows of the
    same cutoffs add little to a model and much to memory. Scoring reads everyone."""
    warehouse = as_warehouse(warehouse)
    table = TABLES[(snapshot, purpose)]
    where = ""
    if purpose == "training":
        rows = int(warehouse.query(f"select count(*) as n from {table}")["n"].iloc[0])
        if rows > MAX_TRAINING_SNAPSHOT_ROWS:
            fraction = MAX_TRAINING_SNAPSHOT_ROWS / rows
            where = "where " + warehouse.sample("snapshot.component_id", fraction)
    frames = {}
    if only is not None:  # scoring only: `where` holds no sample
        frames["wanted"] = only.drop_duplicates()
        where = _only_wanted(only.columns)
    columns, people = "snapshot.*", ""
    if snapshot == "cross_sell":
        # the person's features joined on in the warehouse, which does it in parallel and
        # without a second copy of the rows in memory
        person_table = TABLES[("customer", purpose)]
        own = set(warehouse.query(f"select * from {table} limit 0").columns)
        person_features = [
            c
            for c in warehouse.query(f"select * from {person_table} limit 0").columns
            if c not in own and not c.startswith("label_")
        ]
        columns += "".join(f", people.{c}" for c in person_features)
        people = (
            f"inner join {person_table} as people on people.cutoff_date = snapshot.cutoff_date "
            "and people.component_id = snapshot.component_id"
        )
    # a fixed row order: warehouses scan in parallel, and row sampling must see the same order
    # every run for a seed to give the same model
    keys = ", ".join(f"snapshot.{key}" for key in ("cutoff_date", *SNAPSHOT_KEYS[snapshot]))
    frame = warehouse.query(
        f"select {columns} from {table} as snapshot {people} {where} order by {keys}", **frames
    )
    frame["cutoff_date"] = pd.to_datetime(frame["cutoff_date"]).dt.date
    return frame


def _only_wanted(keys) -> str:
    """The snapshot rows whose keys are in the frame `wanted` (a semi-join on both warehouses)."""
    matches = " and ".join(f"wanted.{key} = snapshot.{key}" for key in keys)
    return f"where exists (select 1 from wanted where {matches})"


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """Everything that describes the past: not ids, labels or raw timestamps."""
    skip = set(ID_COLUMNS) | set(TIMESTAMP_COLUMNS)
    return [c for c in frame.columns if c not in skip and not c.startswith("label_")]


def feature_matrix(
    frame: pd.DataFrame, features: list[str], categories: dict[str, list[str]]
) -> pd.DataFrame:
    """Model input with fixed category levels, so codes mean the same in training and scoring."""
    matrix = frame[features].copy()
    for column in features:
        if column in categories:
            matrix[column] = pd.Categorical(matrix[column], categories=categories[column])
        elif matrix[column].dtype == bool or str(matrix[column].dtype) == "boolean":
            matrix[column] = matrix[column].astype("float64")
        else:
            matrix[column] = pd.to_numeric(matrix[column], errors="coerce").astype("float64")
    return matrix


def category_levels(frame: pd.DataFrame, features: list[str]) -> dict[str, list[str]]:
    return {
        c: sorted(frame[c].dropna().astype(str).unique())
        for c in features
        if c in CATEGORICAL_COLUMNS
    }


@dataclass(frozen=True)
class Split:
    """Train on earlier cutoffs, test on a later labelled one.

    Purged: a training row's label window must close by the test cutoff, so nothing the model
    learns from happened after the moment it is tested at. Validation (early stopping,
    calibration) is the latest training cutoff, or a fifth of the people when there is one.
    """

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    test_cutoff: date
    train_cutoffs: tuple[date, ...]


def labelled(frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    rows = frame[spec.eligible(frame)]
    if spec.kind == "survival":
        return rows
    return rows[rows[spec.label].notna()]


def test_cutoffs(
    frame: pd.DataFrame, spec: ModelSpec, calendar: Calendar, origins: int = 1
) -> list[date]:
    """The latest `origins` cutoffs a model can be tested at, latest first: labelled ones (for
    survival, those whose horizon has passed), each with at least one earlier cutoff to train on."""
    cutoffs = sorted(labelled(frame, spec)["cutoff_date"].unique())
    if spec.kind == "survival":
        horizon = timedelta(days=calendar.horizon_days(spec))
        complete = [c for c in cutoffs if c + horizon <= calendar.as_of] or cutoffs[-1:]
        candidates = [c for c in complete if c > cutoffs[0]] or complete[-1:]
    else:
        candidates = cutoffs
    return sorted(candidates, reverse=True)[:origins] if candidates else []


def time_split(
    frame: pd.DataFrame,
    spec: ModelSpec,
    calendar: Calendar,
    purge_days: int | None = None,
    test_cutoff: date | None = None,
) -> Split:
    """The split at `test_cutoff` (default: the latest one, see `test_cutoffs`)."""
    rows = labelled(frame, spec)
    horizon = calendar.horizon_days(spec)
    cutoffs = sorted(rows["cutoff_date"].unique())
    if test_cutoff is None:
        test_cutoff = test_cutoffs(frame, spec, calendar)[0]
    if spec.kind == "survival":
        # any cutoff before the test one: a label is censored where the test window starts
        train_cutoffs = [c for c in cutoffs if c < test_cutoff]
    else:
        purge = timedelta(days=horizon if purge_days is None else purge_days)
        train_cutoffs = [c for c in cutoffs if c + purge <= test_cutoff]
    train = rows[rows["cutoff_date"].isin(train_cutoffs)]
    if len(train_cutoffs) >= 2:
        validation = train[train["cutoff_date"] == train_cutoffs[-1]]
        train = train[train["cutoff_date"] != train_cutoffs[-1]]
    else:
        people = pd.util.hash_pandas_object(train["component_id"], index=False).to_numpy()
        held_out = people % 5 == 0
        validation, train = train[held_out], train[~held_out]
    return Split(
        train=train,
        validation=validation,
        test=rows[rows["cutoff_date"] == test_cutoff],
        test_cutoff=test_cutoff,
        train_cutoffs=tuple(train_cutoffs),
    )


def survival_bounds(
    frame: pd.DataFrame, spec: ModelSpec, window_end: date
) -> tuple[np.ndarray, np.ndarray]:
    """AFT interval labels: the observed days to the next order, or (days observed, inf) when
    no order came before `window_end` (censored: still waiting, not never)."""
    cutoffs = pd.to_datetime(frame["cutoff_date"])
    observable = (pd.Timestamp(window_end) - cutoffs).dt.days.to_numpy(dtype=float)
    days = frame[spec.label].to_numpy(dtype=float)
    # an order on the cutoff day itself is "day 0"; AFT needs a positive time
    observed = ~np.isnan(days) & (days < observable)
    lower = np.where(observed, np.maximum(days, 0.5), observable)
    upper = np.where(observed, np.maximum(days, 0.5), np.inf)
    return lower, upper
