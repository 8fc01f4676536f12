"""Training past one machine: the same model fitted on a Dask cluster (docs/scaling.md).

`fit_on_dask` takes the training and validation rows as Dask DataFrames (read from the
warehouse in partitions, or from Parquet the warehouse unloaded), builds the features with the
same `feature_matrix` per partition, trains with `xgboost.dask` on the same parameters, and
returns the same `TrainedModel` the single-machine `fit` does, so scoring, explanations and the
gate do not know where it was trained. Needs the `distributed` extra (dask, distributed).
"""

from __future__ import annotations

from datetime import date

import dask.dataframe as dd
import pandas as pd
from distributed import Client
from xgboost import dask as dxgb

from ml.data import (
    CATEGORICAL_COLUMNS,
    category_levels,
    feature_columns,
    feature_matrix,
    survival_bounds,
)
from ml.specs import ModelSpec
from ml.train import (
    BOOST_ROUNDS,
    EARLY_STOPPING_ROUNDS,
    TrainedModel,
    calibrate,
    positive_labels,
    run_rate_margin,
    training_params,
)


def _dask_matrix(
    client: Client,
    rows: dd.DataFrame,
    spec: ModelSpec,
    features: list[str],
    categories: dict[str, list[str]],
    window_end: date,
    offset: tuple[str, float] | None = None,
) -> dxgb.DaskDMatrix:
    # the same model input as on one machine, built where each partition lives
    meta = feature_matrix(rows._meta, features, categories)
    matrix = rows.map_partitions(feature_matrix, features, categories, meta=meta)
    margin = (
        rows.map_partitions(
            lambda part: pd.Series(run_rate_margin(part, *offset), index=part.index),
            meta=(None, "f8"),
        )
        if offset
        else None
    )
    if spec.kind == "survival":

        def bounds(part: pd.DataFrame) -> pd.DataFrame:
            lower, upper = survival_bounds(part, spec, window_end)
            return pd.DataFrame({"lower": lower, "upper": upper}, index=part.index)

        both = rows.map_partitions(bounds, meta={"lower": "f8", "upper": "f8"})
        return dxgb.DaskDMatrix(
            client,
            matrix,
            label_lower_bound=both["lower"],
            label_upper_bound=both["upper"],
            enable_categorical=True,
        )
    label = rows[spec.label].astype("float64")
    return dxgb.DaskDMatrix(client, matrix, label, base_margin=margin, enable_categorical=True)


def fit_on_dask(
    client: Client,
    train: dd.DataFrame,
    validation: dd.DataFrame,
    spec: ModelSpec,
    test_cutoff: date,
    seed: int = 0,
    label_days: int = 0,
) -> TrainedModel:
    """Fit `spec` on a Dask cluster: rows of the purged time split (ml.data.time_split);
    `label_days` as in `ml.train.fit`."""
    features = feature_columns(train._meta)
    # the category columns are few and small: gathered once, fixed for training and scoring
    categorical = [c for c in features if c in CATEGORICAL_COLUMNS]
    categories = (
        category_levels(dd.concat([train, validation])[categorical].compute(), features)
        if categorical
        else {}
    )
    per_partition = train[spec.label].map_partitions(
        lambda labels: pd.Series([positive_labels(labels, spec)]), meta=(spec.label, "f8")
    )
    rows, positives = client.compute([train.shape[0], per_partition.sum()], sync=True)
    offset = (spec.offset, float(label_days)) if spec.offset else None
    dtrain = _dask_matrix(client, train, spec, features, categories, test_cutoff, offset)
    dvalidation = _dask_matrix(client, validation, spec, features, categories, test_cutoff, offset)
    output = dxgb.train(
        client,
        training_params(spec, int(rows), float(positives), seed, nthread=1),
        dtrain,
        num_boost_round=BOOST_ROUNDS,
        evals=[(dvalidation, "validation")],
        early_stopping_rounds=EARLY_STOPPING_ROUNDS,
        verbose_eval=False,
    )
    booster = output["booster"]
    model = TrainedModel(
        spec.name,
        spec.kind,
        booster[: booster.best_iteration + 1],
        features,
        categories,
        offset=offset,
    )
    # Platt scaling needs the validation margins in one place: one float per row
    calibrate(model, validation.compute(), spec)
    return model
