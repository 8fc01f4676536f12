"""The paired bootstrap over rolling test cutoffs (ml/compare.py), on planted scores."""

from datetime import date

import numpy as np

from ml import metrics
from ml.compare import Fold, compare

CUTOFFS = [date(2026, 8, 1), date(2026, 7, 1), date(2026, 6, 1)]


def planted_folds(signal: dict[str, float], people: int = 2_000, seed: int = 0) -> list[Fold]:
    """The same people at three cutoffs; each scorer sees the label through its own noise."""
    rng = np.random.default_rng(seed)
    folds = []
    for cutoff in CUTOFFS:
        y = rng.random(people) < 0.3
        predictions = {
            name: strength * y + rng.normal(size=people) for name, strength in signal.items()
        }
        folds.append(
            Fold(
                cutoff=cutoff,
                people=np.array([f"p{i}" for i in range(people)]),
                score=lambda p, rows, y=y: metrics.roc_auc(y[rows], p[rows]),
                predictions=predictions,
            )
        )
    return folds


def test_a_clearly_better_model_has_its_whole_interval_above_zero():
    result = compare(planted_folds({"model": 1.5, "rfm": 0.5}), "roc_auc", True)["rfm"]
    assert result.cutoffs == tuple(CUTOFFS)
    assert result.low > 0 and result.credibly_better
    assert result.low < result.difference < result.high
    assert np.isclose(
        result.difference,
        np.mean(np.array(result.model_values) - np.array(result.baseline_values)),
    )


def test_a_model_no_better_than_its_baseline_is_not_credibly_better():
    # the same signal strength: any difference is noise, and the interval must say so
    result = compare(planted_folds({"model": 1.0, "rfm": 1.0}), "roc_auc", True)["rfm"]
    assert result.low < 0 < result.high
    assert not result.credibly_better


def test_lower_is_better_metrics_need_the_interval_below_zero():
    rng = np.random.default_rng(1)
    actual = rng.gamma(1.0, 100.0, 3_000)
    good, poor = actual + rng.normal(0, 10, 3_000), actual + rng.normal(0, 80, 3_000)
    fold = Fold(
        cutoff=CUTOFFS[0],
        people=np.arange(3_000),
        score=lambda p, rows: metrics.pinball_loss(actual[rows], p[rows], 0.9),
        predictions={"model": good, "cells": poor},
    )
    result = compare([fold], "pinball_loss", False)["cells"]
    assert result.high < 0 and result.credibly_better


def test_the_interval_is_the_same_for_the_same_seed():
    folds = planted_folds({"model": 1.2, "rfm": 1.0})
    assert compare(folds, "roc_auc", True) == compare(folds, "roc_auc", True)


def test_the_fast_auc_equals_sklearns():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    y = rng.random(500) < 0.2
    score = np.round(rng.random(500), 1)  # ties, counted half by both
    assert np.isclose(metrics.roc_auc(y, score), roc_auc_score(y, score))
