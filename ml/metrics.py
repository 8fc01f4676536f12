"""Evaluation metrics: the same functions judge every model and every baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def _deciles(score: np.ndarray) -> np.ndarray:
    """Decile 1 = the highest scores; ties broken by position so deciles have equal size."""
    order = np.argsort(-score, kind="stable")
    decile = np.empty(len(score), dtype=int)
    decile[order] = np.arange(len(score)) * 10 // max(len(score), 1) + 1
    return decile


def lift_table(y: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    """Per decile of score: people, positives, rate, lift over the average, cumulative capture."""
    frame = pd.DataFrame({"decile": _deciles(score), "y": y.astype(float)})
    table = frame.groupby("decile")["y"].agg(people="size", positives="sum").reset_index()
    base = frame["y"].mean()
    table["rate"] = table["positives"] / table["people"]
    table["lift"] = table["rate"] / base if base > 0 else np.nan
    table["capture"] = table["positives"].cumsum() / max(frame["y"].sum(), 1e-12)
    return table


def calibration_table(y: np.ndarray, probability: np.ndarray) -> pd.DataFrame:
    """Reliability: mean predicted probability against the observed rate, per decile."""
    frame = pd.DataFrame({"decile": _deciles(probability), "p": probability, "y": y.astype(float)})
    return (
        frame.groupby("decile")
        .agg(people=("y", "size"), predicted=("p", "mean"), observed=("y", "mean"))
        .reset_index()
    )


def classification(y: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    y = np.asarray(y).astype(int)
    probability = np.asarray(probability, dtype=float)
    if len(np.unique(y)) < 2:
        return {}
    lift = lift_table(y, probability)
    return {
        "roc_auc": float(roc_auc_score(y, probability)),
        "pr_auc": float(average_precision_score(y, probability)),
        "brier": float(brier_score_loss(y, probability)),
        "top_decile_lift": float(lift["lift"].iloc[0]),
        "top_decile_capture": float(lift["capture"].iloc[0]),
        "base_rate": float(y.mean()),
    }


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """The Mann-Whitney AUC (ties count half), equal to sklearn's but without its input checks:
    a bootstrap calls it thousands of times."""
    positive = np.asarray(y).astype(bool)
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    if n_positive == 0 or n_negative == 0:
        return float("nan")
    ranks = rankdata(np.asarray(score, dtype=float))
    return float(
        (ranks[positive].sum() - n_positive * (n_positive + 1) / 2) / n_positive / n_negative
    )


def pinball_loss(actual: np.ndarray, predicted: np.ndarray, alpha: float) -> float:
    gap = np.asarray(actual, dtype=float) - np.asarray(predicted, dtype=float)
    return float(np.mean(np.maximum(alpha * gap, (alpha - 1) * gap)))


def normalized_gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Gini of the predicted ordering over the best possible ordering: 1 is perfect, 0 random."""

    def gini(order_by: np.ndarray) -> float:
        order = np.lexsort((np.arange(len(order_by)), -order_by))
        cumulative = np.cumsum(actual[order]) / actual.sum()
        return float(cumulative.sum() / len(actual) - (len(actual) + 1) / (2 * len(actual)))

    actual = np.asarray(actual, dtype=float)
    if actual.sum() <= 0:
        return float("nan")
    return gini(np.asarray(predicted, dtype=float)) / gini(actual)


def decile_error(actual: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"decile": _deciles(predicted), "actual": actual, "predicted": predicted})
    return (
        frame.groupby("decile")
        .agg(people=("actual", "size"), predicted=("predicted", "mean"), actual=("actual", "mean"))
        .reset_index()
    )


def reorder_table(time: np.ndarray, event: np.ndarray, predicted_time: np.ndarray) -> pd.DataFrame:
    """Per decile of predicted days to the next order (1 = soonest): the share who did order
    again while observed, and their median days. A good ranking puts the reorders up front."""
    frame = pd.DataFrame(
        {
            "decile": _deciles(-np.asarray(predicted_time, dtype=float)),
            "event": np.asarray(event, dtype=float),
            "days": np.where(np.asarray(event, dtype=bool), time, np.nan),
            "predicted": predicted_time,
        }
    )
    table = (
        frame.groupby("decile")
        .agg(
            people=("event", "size"),
            reordered=("event", "mean"),
            predicted=("predicted", "mean"),
            median_days=("days", "median"),
        )
        .reset_index()
    )
    table["lift"] = table["reordered"] / max(frame["event"].mean(), 1e-12)
    return table


def regression(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    deciles = decile_error(actual, predicted)
    mean_actual = max(actual.mean(), 1e-12)
    return {
        "spearman": float(pd.Series(actual).corr(pd.Series(predicted), method="spearman")),
        "normalized_gini": normalized_gini(actual, predicted),
        # mean absolute gap between predicted and actual decile means, relative to the mean
        "decile_error": float(
            (deciles["predicted"] - deciles["actual"]).abs().mean() / mean_actual
        ),
        "mae": float(np.abs(actual - predicted).mean()),
        "total_ratio": float(predicted.sum() / max(actual.sum(), 1e-12)),
    }


def quantile(actual: np.ndarray, predicted: np.ndarray, alpha: float) -> dict[str, float]:
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    return {
        "pinball_loss": pinball_loss(actual, predicted, alpha),
        "coverage": float(np.mean(actual <= predicted)),
        "spearman": float(pd.Series(actual).corr(pd.Series(predicted), method="spearman")),
    }


def concordance_index(
    time: np.ndarray, event: np.ndarray, predicted_time: np.ndarray, pairs: int = 400_000
) -> float:
    """Harrell's C on a fixed random sample of pairs (exact enough, and linear in time): of the
    pairs whose order is known (the earlier one had its order observed), the share the prediction
    puts in the same order; ties in the prediction count half."""
    rng = np.random.default_rng(0)
    n = len(time)
    i, j = rng.integers(0, n, pairs), rng.integers(0, n, pairs)
    first, second = np.where(time[i] <= time[j], i, j), np.where(time[i] <= time[j], j, i)
    comparable = (time[first] < time[second]) & event[first].astype(bool)
    if not comparable.any():
        return float("nan")
    a, b = predicted_time[first][comparable], predicted_time[second][comparable]
    return float(np.mean((a < b) + 0.5 * (a == b)))


def survival(time: np.ndarray, event: np.ndarray, predicted_time: np.ndarray) -> dict[str, float]:
    time, event = np.asarray(time, dtype=float), np.asarray(event, dtype=bool)
    predicted_time = np.asarray(predicted_time, dtype=float)
    observed = event
    return {
        "c_index": concordance_index(time, event, predicted_time),
        "median_abs_error_days_observed": float(
            np.median(np.abs(time[observed] - predicted_time[observed]))
        )
        if observed.any()
        else float("nan"),
        "observed_share": float(observed.mean()),
    }
