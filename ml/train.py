"""Fit one model on the purged time split, judge it and its baselines on the test cutoff, gate it.

`train_and_evaluate` is the whole story for one model; the Dagster assets and `nextsale
evaluate` both call it, so the published models and the real-data table come from one path.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression

from ml import baselines, metrics
from ml.compare import Comparison, Fold, compare
from ml.data import (
    Calendar,
    Split,
    category_levels,
    feature_columns,
    feature_matrix,
    labelled,
    survival_bounds,
    test_cutoffs,
    time_split,
)
from ml.specs import ModelSpec

ROLLING_ORIGINS = 3  # test cutoffs a model is judged at, each with its own purged training
MAX_TRAIN_ROWS = 400_000  # a random sample beyond this: more rows of the same cutoffs add little
BOOST_ROUNDS = 800
EARLY_STOPPING_ROUNDS = 40
PEER_BANDS = 20  # potential LTV: bands of similar customers by expected revenue
PEER_MIN_ROWS = 50  # a band's upper quantile needs this many people to be more than noise
BASE_PARAMS = {
    "tree_method": "hist",
    "max_depth": 5,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 5,
    "reg_lambda": 1.0,
    "max_cat_to_onehot": 1,
}
TWEEDIE = {
    "objective": "reg:tweedie",
    "tweedie_variance_power": 1.5,
    "eval_metric": "tweedie-nloglik@1.5",
}
OBJECTIVES: dict[str, dict[str, Any]] = {
    "classifier": {"objective": "binary:logistic", "eval_metric": "auc"},
    "tweedie": TWEEDIE,
    # potential LTV: trees of expected revenue place a person among similar customers
    "peer_quantile": TWEEDIE,
    "survival": {
        "objective": "survival:aft",
        "aft_loss_distribution": "normal",
        "aft_loss_distribution_scale": 1.0,
        "eval_metric": "aft-nloglik",
    },
}


@dataclass
class TrainedModel:
    """A booster with what it needs to score new rows the way it was trained."""

    name: str
    kind: str
    booster: xgb.Booster
    features: list[str]
    categories: dict[str, list[str]]
    # (slope, intercept) on the margin: Platt scaling for classifiers; for revenue, the log of
    # actual over predicted total on the validation cutoff (the intercept alone)
    calibration: tuple[float, float] | None = None
    prediction_scale: float = 1.0  # revenue models trained on a shorter horizon than they serve
    # revenue models start from the person's own run rate: (feature, days it is scaled to)
    offset: tuple[str, float] | None = None
    # potential LTV only: what a prospect who converts has spent in the horizon (training mean)
    value_if_converted: float | None = None
    # potential LTV only: bands of expected revenue (similar customers) and the level each
    # band's upper tenth went on to reach; see `peer_levels`
    peers: tuple[list[float], list[float]] | None = None
    version: str | None = None  # set once saved (ml.artifacts)

    def dmatrix(self, frame: pd.DataFrame) -> xgb.DMatrix:
        matrix = xgb.DMatrix(
            feature_matrix(frame, self.features, self.categories), enable_categorical=True
        )
        if self.offset:
            matrix.set_base_margin(run_rate_margin(frame, *self.offset))
        return matrix

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(self.dmatrix(frame), output_margin=True)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability, expected revenue (USD) or expected days, by kind."""
        margin = self.margin(frame).astype(float)
        slope, intercept = self.calibration or (1.0, 0.0)
        if self.kind == "classifier":
            return 1.0 / (1.0 + np.exp(-(slope * margin + intercept)))
        if self.kind == "quantile":  # potential LTV saved before it became peer_quantile
            return margin * self.prediction_scale
        value = np.exp(slope * margin + intercept)
        if self.kind == "peer_quantile" and self.peers:
            edges, levels = self.peers
            reached = np.asarray(levels)[np.searchsorted(edges, value, side="right")]
            value = np.maximum(value, reached)  # never below the person's own expectation
        return value * self.prediction_scale

    def contributions(self, frame: pd.DataFrame) -> np.ndarray:
        """Per-feature contributions to the margin (TreeSHAP); the last column is the bias, and
        each row sums to the model's margin for that row."""
        return self.booster.predict(self.dmatrix(frame), pred_contribs=True)


def run_rate_margin(frame: pd.DataFrame, feature: str, days: float) -> np.ndarray:
    """log(1 + the person's revenue per 30 days as a customer, scaled to `days`): the trees of
    a revenue model learn a multiplicative correction to it, so the ranking starts from what
    the person has been spending (a strong baseline on its own) instead of from nothing."""
    rate = pd.to_numeric(frame[feature], errors="coerce").fillna(0).to_numpy(dtype=float)
    return np.log1p(np.maximum(rate, 0) * days / 30.0)


@dataclass
class Gate:
    passed: bool
    reasons: list[str]


@dataclass(frozen=True)
class FoldResult:
    """One test cutoff of the rolling origin: the model refitted on the training its cutoff
    allows, and every metric of it and of each baseline on the cutoff's rows."""

    test_cutoff: date
    n_train: int
    n_test: int
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]


@dataclass
class ModelRun:
    spec: ModelSpec
    model: TrainedModel | None
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    gate: Gate
    test_cutoff: date | None
    train_cutoffs: tuple[date, ...]
    horizon_days: int
    n_train: int
    n_test: int
    data_hash: str
    fit_seconds: float
    baseline_seconds: dict[str, float] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    folds: list[FoldResult] = field(default_factory=list)  # latest test cutoff first
    comparisons: dict[str, Comparison] = field(default_factory=dict)  # by baseline

    @property
    def best_baseline(self) -> tuple[str, float] | None:
        """The strongest baseline on the main metric, by its mean over the test cutoffs."""
        scored = {
            name: c.baseline_mean
            for name, c in self.comparisons.items()
            if np.isfinite(c.baseline_mean)
        }
        if not scored:
            return None
        pick = max if self.spec.higher_is_better else min
        name = pick(scored, key=lambda n: scored[n])
        return name, scored[name]


def data_hash(*frames: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _examples(frame: pd.DataFrame, spec: ModelSpec) -> int:
    """Positives for classifiers, non-zero targets for revenue, observed orders for survival."""
    values = frame[spec.label]
    if spec.kind == "classifier":
        return int(values.astype(bool).sum())
    return int((values.fillna(0) > 0).sum())


def _too_little_data(split: Split, spec: ModelSpec) -> list[str]:
    reasons = []
    for part in ("train", "test"):
        found = _examples(getattr(split, part), spec)
        if found < spec.min_examples:
            what = "positive examples" if spec.kind == "classifier" else "non-zero targets"
            reasons.append(
                f"too little data: {found} {what} in the {part} rows, {spec.min_examples} needed"
            )
    if split.validation.empty:
        reasons.append("too little data: no validation rows from the training period")
    return reasons


def _dmatrix(
    frame: pd.DataFrame,
    spec: ModelSpec,
    features: list[str],
    categories: dict[str, list[str]],
    window_end: date,
    offset: tuple[str, float] | None = None,
) -> xgb.DMatrix:
    matrix = xgb.DMatrix(feature_matrix(frame, features, categories), enable_categorical=True)
    if offset:
        matrix.set_base_margin(run_rate_margin(frame, *offset))
    if spec.kind == "survival":
        lower, upper = survival_bounds(frame, spec, window_end)
        matrix.set_float_info("label_lower_bound", lower)
        matrix.set_float_info("label_upper_bound", upper)
    else:
        matrix.set_label(frame[spec.label].astype(float).to_numpy())
    return matrix


def fit(
    split: Split, spec: ModelSpec, seed: int = 0, nthread: int = 2, label_days: int = 0
) -> TrainedModel:
    """Fit on the split's training rows, early-stopped and calibrated on its validation rows.
    `label_days`: the label window of the training rows (a revenue model's run-rate offset)."""
    features = feature_columns(split.train)
    categories = category_levels(pd.concat([split.train, split.validation]), features)
    offset = (spec.offset, float(label_days)) if spec.offset else None
    train = _dmatrix(split.train, spec, features, categories, split.test_cutoff, offset)
    validation = _dmatrix(split.validation, spec, features, categories, split.test_cutoff, offset)
    positives = positive_labels(split.train[spec.label], spec)
    booster = xgb.train(
        training_params(spec, len(split.train), positives, seed, nthread),
        train,
        num_boost_round=BOOST_ROUNDS,
        evals=[(validation, "validation")],
        early_stopping_rounds=EARLY_STOPPING_ROUNDS,
        verbose_eval=False,
    )
    model = TrainedModel(
        spec.name,
        spec.kind,
        booster[: booster.best_iteration + 1],
        features,
        categories,
        offset=offset,
    )
    calibrate(model, split.validation, spec)
    return model


def positive_labels(labels: pd.Series, spec: ModelSpec) -> float:
    """A classifier's positive rows (its class weight comes from them); 0 for other kinds."""
    return float(labels.astype(bool).sum()) if spec.kind == "classifier" else 0.0


def training_params(
    spec: ModelSpec, rows: int, positives: float, seed: int = 0, nthread: int = 2
) -> dict:
    """XGBoost parameters for a spec; the same for one machine and for a Dask cluster."""
    params = {**BASE_PARAMS, **OBJECTIVES[spec.kind], "seed": seed, "nthread": nthread}
    if spec.kind == "classifier":
        # imbalance: weight positives up while fitting; Platt scaling restores probabilities
        params["scale_pos_weight"] = (rows - max(positives, 1.0)) / max(positives, 1.0)
    return params


def calibrate(model: TrainedModel, validation: pd.DataFrame, spec: ModelSpec) -> None:
    """Platt scaling of a classifier's margin on the validation rows; for a revenue model, the
    total: its predictions scaled so they add up to the validation cutoff's actual revenue (a
    model fitted on earlier windows carries their level, which seasons and cohorts shift)."""
    if spec.kind in ("tweedie", "peer_quantile"):
        predicted = float(np.exp(model.margin(validation).astype(float)).sum())
        actual = float(validation[spec.label].astype(float).sum())
        if predicted > 0 and actual > 0:
            model.calibration = (1.0, float(np.log(actual / predicted)))
        if spec.kind == "peer_quantile" and len(validation):
            revenue = validation[spec.label].to_numpy(dtype=float)
            model.peers = peer_levels(model.predict(validation), revenue, spec.quantile)
        return
    if spec.kind != "classifier":
        return
    margin = model.margin(validation).reshape(-1, 1)
    y = validation[spec.label].astype(int).to_numpy()
    if len(np.unique(y)) == 2:
        platt = LogisticRegression(C=1e6).fit(margin, y)
        model.calibration = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))


def peer_levels(
    expected: np.ndarray, revenue: np.ndarray, quantile: float
) -> tuple[list[float], list[float]]:
    """Potential LTV's table, from rows the trees did not fit (the validation cutoff): people
    in bands of expected revenue (similar customers, as history, behaviour and demographics
    place them) and the `quantile` of what each band went on to spend, an upper level that
    similar people did reach. A band of higher expected revenue never gets a lower level."""
    bands = int(np.clip(len(expected) // PEER_MIN_ROWS, 1, PEER_BANDS))
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bands + 1)[1:-1]))
    band = np.searchsorted(edges, expected, side="right")
    levels = pd.Series(revenue).groupby(band).quantile(quantile)
    levels = levels.reindex(range(len(edges) + 1)).ffill().bfill()
    return edges.tolist(), np.maximum.accumulate(levels.to_numpy(dtype=float)).tolist()


def score_predictions(
    spec: ModelSpec, frame: pd.DataFrame, prediction: np.ndarray, window_end: date
):
    y = frame[spec.label]
    if spec.kind == "classifier":
        return metrics.classification(y.astype(int).to_numpy(), prediction)
    if spec.kind == "tweedie":
        return metrics.regression(y.to_numpy(dtype=float), prediction)
    if spec.kind == "peer_quantile":
        return metrics.quantile(y.to_numpy(dtype=float), prediction, spec.quantile)
    lower, upper = survival_bounds(frame, spec, window_end)
    return metrics.survival(lower, np.isfinite(upper), prediction)


def _baseline_predictions(
    spec: ModelSpec, split: Split, horizon_days: int, window_end: date
) -> dict[str, tuple[np.ndarray, float]]:
    """Each baseline's predictions for the test rows, and its fit time."""
    inputs = baselines.BaselineInputs(
        spec, pd.concat([split.train, split.validation]), split.test, horizon_days, window_end
    )
    out: dict[str, tuple[np.ndarray, float]] = {}
    for name in spec.baselines:
        started = time.perf_counter()
        prediction = baselines.BASELINES[name](inputs)
        out[name] = (prediction, time.perf_counter() - started)
    return out


def main_metric_scorer(spec: ModelSpec, test: pd.DataFrame, window_end: date):
    """The main metric of predictions on a subset of the test rows (by row index): what the
    bootstrap of `ml.compare` resamples."""
    y = test[spec.label]
    if spec.main_metric == "roc_auc":
        labels = y.astype(int).to_numpy()
        return lambda p, rows: metrics.roc_auc(labels[rows], p[rows])
    if spec.main_metric == "normalized_gini":
        revenue = y.to_numpy(dtype=float)
        return lambda p, rows: metrics.normalized_gini(revenue[rows], p[rows])
    if spec.main_metric == "pinball_loss":
        revenue = y.to_numpy(dtype=float)
        return lambda p, rows: metrics.pinball_loss(revenue[rows], p[rows], spec.quantile)
    if spec.main_metric == "c_index":
        lower, upper = survival_bounds(test, spec, window_end)
        event = np.isfinite(upper)
        # fewer sampled pairs per resample: the resampling already varies which pairs count
        return lambda p, rows: metrics.concordance_index(
            lower[rows], event[rows], p[rows], pairs=50_000
        )
    raise ValueError(f"no bootstrap scorer for {spec.main_metric!r}")


def chart_tables(
    spec: ModelSpec, test: pd.DataFrame, predictions: dict[str, np.ndarray], window_end: date
) -> dict[str, pd.DataFrame]:
    """The test cutoff's tables for charts, for the model and each baseline on the same rows,
    one table per chart with a `scorer` column: lift and calibration (classifiers), actual
    value per decile (revenue), reorders per decile of predicted days (survival)."""
    if spec.kind == "classifier":
        y = test[spec.label].to_numpy(dtype=int)
        builders = {
            "lift": lambda p: metrics.lift_table(y, p),
            "calibration": lambda p: metrics.calibration_table(y, p),
        }
    elif spec.kind == "survival":
        lower, upper = survival_bounds(test, spec, window_end)
        builders = {"reorders": lambda p: metrics.reorder_table(lower, np.isfinite(upper), p)}
    else:
        y = test[spec.label].to_numpy(dtype=float)
        builders = {"deciles": lambda p: metrics.decile_error(y, p)}
    return {
        table: pd.concat(
            [build(np.asarray(p, dtype=float)).assign(scorer=n) for n, p in predictions.items()],
            ignore_index=True,
        )
        for table, build in builders.items()
    }


def judge(run: ModelRun) -> Gate:
    """Published only if, over the rolling test cutoffs, it beats every baseline on the main
    metric on average with the whole 95 % interval of the difference on the better side of 0,
    and passes the floor on the latest cutoff (the published model's)."""
    spec, reasons = run.spec, []
    value = run.metrics.get(spec.main_metric, float("nan"))
    if not np.isfinite(value):
        reasons.append(f"{spec.main_metric} could not be computed on the test cutoff")
    for name, comparison in run.comparisons.items():
        if np.isfinite(comparison.baseline_mean) and not comparison.credibly_better:
            reasons.append(f"does not credibly beat the {name} baseline: {comparison.describe()}")
    floor_metric, floor = spec.floor
    floor_value = run.metrics.get(floor_metric, float("nan"))
    if not floor_value >= floor:
        reasons.append(f"{floor_metric} {floor_value:.4f} is below the floor of {floor}")
    headroom = run.details.get("headroom")
    if isinstance(headroom, dict) and not headroom["credibly_better"]:
        reasons.append(
            "headroom does not credibly rank realised growth better than the gap to the "
            f"segment's median: Spearman {headroom['spearman_with_growth']:.3f} vs "
            f"{headroom['baseline_spearman_with_growth']:.3f}, difference "
            f"{headroom['difference']:+.3f} [{headroom['low']:+.3f}, {headroom['high']:+.3f}]"
        )
    cutoffs = len(run.folds)
    passed = (
        f"beats every baseline at {cutoffs} test cutoff{'s' * (cutoffs > 1)} (95 % interval of "
        "the difference above 0) and the floor"
    )
    return Gate(passed=not reasons, reasons=reasons or [passed])


def headroom(frame: pd.DataFrame, potential: np.ndarray, horizon_days: int) -> np.ndarray:
    """A past buyer's headroom: what similar customers go on to reach (potential LTV) minus
    what the person spends today (last period's spend at the horizon's length), never below 0.
    Set against today's spend, as the segment view is, not against the expected LTV: a
    marketer reads it as value the person could add."""
    current = baselines.last_period_spend(frame, horizon_days)
    return np.maximum(np.asarray(potential, dtype=float) - current, 0.0)


def validate_headroom(
    split: Split, potential: np.ndarray, horizon_days: int, seed: int = 0
) -> dict[str, float | bool]:
    """Does headroom mean something? On the latest test cutoff (the model never saw its
    labels): realised growth is the horizon's revenue minus last period's spend; headroom
    should rank it better than the gap to the segment's median (paired bootstrap interval of
    the Spearman difference), and the top headroom decile should grow more than the bottom."""
    test = split.test
    growth = test["label_ltv_revenue_usd"].to_numpy(dtype=float) - baselines.last_period_spend(
        test, horizon_days
    )
    room = headroom(test, potential, horizon_days)
    gap = baselines.segment_median_gap(
        pd.concat([split.train, split.validation]), test, horizon_days
    )
    fold = Fold(
        cutoff=split.test_cutoff,
        people=test["component_id"].to_numpy(),
        score=lambda p, rows: float(spearmanr(p[rows], growth[rows]).statistic),
        predictions={"model": room, "segment_median_gap": gap},
    )
    comparison = compare([fold], "spearman_with_growth", True, seed=seed)["segment_median_gap"]
    top, bottom = _decile_means(room, growth)
    gap_top, gap_bottom = _decile_means(gap, growth)
    return {
        "spearman_with_growth": comparison.model_mean,
        "baseline_spearman_with_growth": comparison.baseline_mean,
        "difference": comparison.difference,
        "low": comparison.low,
        "high": comparison.high,
        "credibly_better": comparison.credibly_better and bool(top > bottom),
        "top_decile_growth_usd": top,
        "bottom_decile_growth_usd": bottom,
        "baseline_top_decile_growth_usd": gap_top,
        "baseline_bottom_decile_growth_usd": gap_bottom,
    }


def _decile_means(score: np.ndarray, value: np.ndarray) -> tuple[float, float]:
    """The mean `value` in the top and the bottom decile of `score` (ties split by order)."""
    ranks = pd.Series(score).rank(method="first").to_numpy()
    decile = np.ceil(ranks * 10 / len(ranks)).astype(int)
    return float(value[decile == 10].mean()), float(value[decile == 1].mean())


def value_if_converted(frame: pd.DataFrame, spec: ModelSpec, split: Split) -> float | None:
    """What prospects (no order before the cutoff) who did buy within the horizon spent, on
    average, at the training cutoffs: a prospect's value if converted, shown beside their
    chance of converting and never added to buyers' headroom."""
    rows = frame[frame["cutoff_date"].isin(split.train_cutoffs) & (frame["orders_count"] <= 0)]
    revenue = rows[spec.label].astype(float)
    converted = revenue[revenue > 0]
    return float(converted.mean()) if len(converted) else None


def _capped(split: Split, seed: int) -> Split:
    """A random sample of MAX_TRAIN_ROWS training rows when there are more."""
    if len(split.train) <= MAX_TRAIN_ROWS:
        return split
    return Split(
        split.train.sample(MAX_TRAIN_ROWS, random_state=seed),
        split.validation,
        split.test,
        split.test_cutoff,
        split.train_cutoffs,
    )


def _fold(
    run: ModelRun,
    spec: ModelSpec,
    split: Split,
    predictions: dict[str, np.ndarray],
    window_end: date,
) -> Fold:
    """Record one test cutoff's metrics on the run, and return it for the bootstrap."""
    scored = {n: score_predictions(spec, split.test, p, window_end) for n, p in predictions.items()}
    run.folds.append(
        FoldResult(
            test_cutoff=split.test_cutoff,
            n_train=len(split.train) + len(split.validation),
            n_test=len(split.test),
            metrics=scored.pop("model"),
            baselines=scored,
        )
    )
    return Fold(
        cutoff=split.test_cutoff,
        people=split.test["component_id"].to_numpy(),
        score=main_metric_scorer(spec, split.test, window_end),
        predictions=predictions,
    )


def train_and_evaluate(
    spec: ModelSpec,
    frame: pd.DataFrame,
    calendar: Calendar,
    *,
    seed: int = 0,
    purge_days: int | None = None,
    prediction_scale: float = 1.0,
) -> ModelRun:
    """The whole path for one model on one snapshot frame (see the module docstring).

    `purge_days` and `prediction_scale` serve data sets too short to train on the full horizon
    (CDNOW's 39-week holdout): labels of a shorter window, scaled to the horizon.
    """
    horizon = calendar.horizon_days(spec)
    if labelled(frame, spec).empty:
        return ModelRun(
            spec=spec,
            model=None,
            metrics={},
            baselines={},
            gate=Gate(False, ["too little data: no rows this model applies to"]),
            test_cutoff=None,
            train_cutoffs=(),
            horizon_days=horizon,
            n_train=0,
            n_test=0,
            data_hash="",
            fit_seconds=0.0,
        )
    splits = [
        _capped(time_split(frame, spec, calendar, purge_days, cutoff), seed)
        for cutoff in test_cutoffs(frame, spec, calendar, ROLLING_ORIGINS)
    ]
    split = splits[0]  # the latest: its model is the one published
    run = ModelRun(
        spec=spec,
        model=None,
        metrics={},
        baselines={},
        gate=Gate(False, []),
        test_cutoff=split.test_cutoff,
        train_cutoffs=split.train_cutoffs,
        horizon_days=horizon,
        n_train=len(split.train) + len(split.validation),
        n_test=len(split.test),
        data_hash=data_hash(split.train, split.validation),
        fit_seconds=0.0,
    )
    shortage = _too_little_data(split, spec)
    if shortage:
        run.gate = Gate(False, shortage)
        return run

    started = time.perf_counter()
    label_days = purge_days or horizon  # the training rows' label window
    model = fit(split, spec, seed=seed, label_days=label_days)
    model.prediction_scale = prediction_scale
    run.fit_seconds = time.perf_counter() - started
    run.model = model
    prediction = model.predict(split.test)
    baseline_predictions = _baseline_predictions(spec, split, horizon, calendar.as_of)
    run.baseline_seconds = {name: seconds for name, (_, seconds) in baseline_predictions.items()}
    predictions = {"model": prediction} | {n: p for n, (p, _) in baseline_predictions.items()}
    folds = [_fold(run, spec, split, predictions, calendar.as_of)]
    run.metrics, run.baselines = run.folds[0].metrics, run.folds[0].baselines
    run.tables = chart_tables(spec, split.test, predictions, calendar.as_of)
    for earlier in splits[1:]:
        if _too_little_data(earlier, spec):
            continue  # an early cutoff of a short history: judged on the later ones
        earlier_model = fit(earlier, spec, seed=seed, label_days=label_days)
        earlier_model.prediction_scale = prediction_scale
        earlier_predictions = {"model": earlier_model.predict(earlier.test)} | {
            n: p
            for n, (p, _) in _baseline_predictions(spec, earlier, horizon, calendar.as_of).items()
        }
        folds.append(_fold(run, spec, earlier, earlier_predictions, calendar.as_of))
    run.comparisons = compare(folds, spec.main_metric, spec.higher_is_better, seed=seed)

    y = split.test[spec.label]
    if spec.churn_baseline:
        # churn risk is 1 - P(purchase) for past buyers: judge it on them alone
        buyers = (split.test["orders_count"] > 0).to_numpy()
        baseline = baseline_predictions[spec.churn_baseline][0]
        churned = (~y.astype(bool)).to_numpy()[buyers]
        run.details["churn_risk"] = metrics.classification(churned, 1 - prediction[buyers])
        run.details[f"churn_risk_{spec.churn_baseline}"] = metrics.classification(
            churned, 1 - baseline[buyers]
        )
    if spec.kind == "peer_quantile":
        run.details["headroom"] = validate_headroom(split, prediction, horizon, seed)
        value = value_if_converted(frame, spec, split)
        model.value_if_converted = value * prediction_scale if value is not None else None
    run.gate = judge(run)
    return run
