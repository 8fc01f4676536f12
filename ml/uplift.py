"""Uplift: who is persuadable by which offer, learned from randomised (or holdout) sends.

A response model ranks people by how likely they are to act; an uplift model ranks them by how
much more likely they are to act *because they were sent something*. Marketing wants the second:
sending to people who would have bought anyway wastes margin, and some people respond worse
when contacted.

Three meta-learners over XGBoost (Künzel, Sekhon, Bickel & Yu, 2019, "Metalearners for estimating
heterogeneous treatment effects using machine learning", PNAS):

- **T-learner**: one outcome model per arm; uplift = P(y | x, arm) - P(y | x, control).
- **X-learner**: the T-learner's models impute each person's individual effect (treated: their
  outcome minus the control model's; control: the arm model's minus their outcome); a second
  model per side learns those effects, and the two are blended by the share treated.
- **S-learner**: one outcome model over everyone, with the arm described by features (sent or
  not, and for offers: the discount, the benefit, the channel); uplift = its prediction with the
  arm minus with control. Arms share what they have in common, so many small arms (offer x
  channel) stay stable where a model per arm would learn noise; it shrinks effects towards zero,
  which costs little when the question is which arm, not how much.

Judged with the Qini curve (Radcliffe, 2007): targeting the top share of people by score, the
incremental responses it would have gained, against targeting at random and against targeting
by the response (propensity) model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

CONTROL = "control"
TOP_SHARE = 0.3  # uplift_at is reported for the top 30 % by score


def _params(objective: str, seed: int) -> dict:
    return {
        "objective": objective,
        "eta": 0.05,
        "max_depth": 3,
        "min_child_weight": 20,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "lambda": 5.0,
        "seed": seed,
        "nthread": 2,
    }


def fit_booster(
    x: pd.DataFrame, y: np.ndarray, objective: str, seed: int, rounds: int
) -> xgb.Booster:
    data = xgb.DMatrix(x, label=y, enable_categorical=True)
    return xgb.train(_params(objective, seed), data, num_boost_round=rounds)


def predict_booster(model: xgb.Booster, x: pd.DataFrame) -> np.ndarray:
    return model.predict(xgb.DMatrix(x, enable_categorical=True))


def one_hot_arm(arm: str, arms: list[str]) -> dict[str, float]:
    """The default description of an arm for the S-learner: which one it is."""
    return {f"arm_{a}": float(arm == a) for a in arms}


@dataclass
class UpliftModel:
    """Per treatment arm, the expected gain in the outcome from sending it instead of nothing."""

    learner: str  # "t", "x" or "s"
    binary: bool  # a yes/no outcome (visit, conversion) or an amount (spend)
    arms: list[str] = field(default_factory=list)
    rounds: int = 200
    seed: int = 0
    # S-learner: an arm (CONTROL included) as features; by default one-hot over the arms
    describe: Callable[[str, list[str]], dict[str, float]] = one_hot_arm

    def _with_arm(self, x: pd.DataFrame, arm: str) -> pd.DataFrame:
        return x.assign(**self.describe(arm, self.arms))

    def fit(self, x: pd.DataFrame, arm: pd.Series, y: np.ndarray) -> UpliftModel:
        arm = pd.Series(np.asarray(arm), index=x.index)
        y = np.asarray(y, dtype=float)
        objective = "binary:logistic" if self.binary else "reg:squarederror"
        self.arms = sorted(a for a in arm.unique() if a != CONTROL)
        if self.learner == "s":
            described = pd.concat(
                [self._with_arm(x[(arm == a).to_numpy()], a) for a in [CONTROL, *self.arms]]
            ).loc[x.index]
            self.outcome = {"all": fit_booster(described, y, objective, self.seed, self.rounds)}
            return self
        control = (arm == CONTROL).to_numpy()
        self.outcome = {
            a: fit_booster(
                x[(arm == a).to_numpy()],
                y[(arm == a).to_numpy()],
                objective,
                self.seed,
                self.rounds,
            )
            for a in [CONTROL, *self.arms]
        }
        if self.learner == "x":
            self.effect = {}
            self.share_treated = {}
            for a in self.arms:
                treated = (arm == a).to_numpy()
                x_t, x_c = x[treated], x[control]
                # imputed individual effects, each side against the other side's outcome model
                d_t = y[treated] - predict_booster(self.outcome[CONTROL], x_t)
                d_c = predict_booster(self.outcome[a], x_c) - y[control]
                self.effect[a] = (
                    fit_booster(x_t, d_t, "reg:squarederror", self.seed, self.rounds),
                    fit_booster(x_c, d_c, "reg:squarederror", self.seed, self.rounds),
                )
                self.share_treated[a] = treated.sum() / (treated.sum() + control.sum())
        return self

    def uplift(self, x: pd.DataFrame, arm: str) -> np.ndarray:
        if self.learner in ("t", "s"):
            return self.response(x, arm) - self.response(x, CONTROL)
        on_treated, on_control = self.effect[arm]
        g = self.share_treated[arm]
        # Künzel et al.: weight each side's effect model by the other side's share
        return g * predict_booster(on_control, x) + (1 - g) * predict_booster(on_treated, x)

    def response(self, x: pd.DataFrame, arm: str) -> np.ndarray:
        """The expected outcome when sent `arm` (or CONTROL: nothing): what targeting by
        propensity to respond would use."""
        if self.learner == "s":
            return predict_booster(self.outcome["all"], self._with_arm(x, arm))
        return predict_booster(self.outcome[arm], x)

    def save(self, folder: Path) -> None:
        """Every booster as `<name>.ubj` in `folder`; the arms and settings go in the caller's
        manifest (`settings()`)."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, booster in self.boosters().items():
            booster.save_model(folder / f"{name}.ubj")

    def boosters(self) -> dict[str, xgb.Booster]:
        named = {f"outcome_{k}": b for k, b in self.outcome.items()}
        for arm, (on_treated, on_control) in getattr(self, "effect", {}).items():
            named |= {f"effect_treated_{arm}": on_treated, f"effect_control_{arm}": on_control}
        return named

    def settings(self) -> dict:
        return {
            "learner": self.learner,
            "binary": self.binary,
            "arms": self.arms,
            "rounds": self.rounds,
            "seed": self.seed,
            "share_treated": getattr(self, "share_treated", {}),
        }

    @classmethod
    def load(cls, folder: Path, settings: dict, describe=one_hot_arm) -> UpliftModel:
        model = cls(
            settings["learner"],
            settings["binary"],
            list(settings["arms"]),
            settings["rounds"],
            settings["seed"],
            describe,
        )

        def booster(name: str) -> xgb.Booster:
            loaded = xgb.Booster()
            loaded.load_model(folder / f"{name}.ubj")
            return loaded

        keys = ["all"] if model.learner == "s" else [CONTROL, *model.arms]
        model.outcome = {k: booster(f"outcome_{k}") for k in keys}
        if model.learner == "x":
            model.share_treated = settings["share_treated"]
            model.effect = {
                a: (booster(f"effect_treated_{a}"), booster(f"effect_control_{a}"))
                for a in model.arms
            }
        return model


def qini_curve(
    score: np.ndarray, treated: np.ndarray, y: np.ndarray, points: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Targeting the top share φ of people by score: the incremental outcome per person in the
    population, Q(φ) = (Y_t(φ) - Y_c(φ) · N_t(φ) / N_c(φ)) / N. Ties are broken at random (a
    fixed seed) so that a constant score draws the random line."""
    score, treated, y = np.asarray(score, float), np.asarray(treated, bool), np.asarray(y, float)
    tie_break = np.random.default_rng(7_919).random(len(score))
    order = np.lexsort((tie_break, -score))
    t, yy = treated[order], y[order]
    n_t, n_c = np.cumsum(t), np.cumsum(~t)
    y_t, y_c = np.cumsum(yy * t), np.cumsum(yy * ~t)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(n_c > 0, y_t - y_c * n_t / np.maximum(n_c, 1), y_t) / len(score)
    share = np.arange(1, len(score) + 1) / len(score)
    at = np.linspace(0, 1, points + 1)
    return at, np.interp(at, np.concatenate([[0.0], share]), np.concatenate([[0.0], gain]))


def qini_coefficient(score: np.ndarray, treated: np.ndarray, y: np.ndarray) -> float:
    """The area between the Qini curve and the random-targeting line (from the origin to the
    gain of sending everyone), in incremental outcomes per person: 0 is no better than random."""
    share, gain = qini_curve(score, treated, y)
    return float(np.trapezoid(gain - share * gain[-1], share))


def uplift_at(score: np.ndarray, treated: np.ndarray, y: np.ndarray, share: float) -> float:
    """Among the top `share` by score: the treated outcome rate minus the control one."""
    score, treated, y = np.asarray(score, float), np.asarray(treated, bool), np.asarray(y, float)
    top = np.argsort(-score, kind="stable")[: max(int(round(share * len(score))), 1)]
    t, c = top[treated[top]], top[~treated[top]]
    if len(t) == 0 or len(c) == 0:
        return float("nan")
    return float(y[t].mean() - y[c].mean())


def bootstrap(
    statistic, arrays: tuple[np.ndarray, ...], rounds: int = 200, seed: int = 0
) -> tuple[float, float]:
    """A 95 % percentile interval of `statistic(*arrays)` over resamples of the rows."""
    rng = np.random.default_rng(seed)
    n = len(arrays[0])
    values = []
    for _ in range(rounds):
        rows = rng.integers(0, n, n)
        values.append(statistic(*(a[rows] for a in arrays)))
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return float(low), float(high)


def _random_band(treated: np.ndarray, y: np.ndarray, rounds: int) -> dict:
    """Random targeting: its expected Qini is 0 by construction; the interval is where one
    random ordering of these rows lands 95 % of the time, the band a model must clear."""
    rng = np.random.default_rng(1)
    draws = [rng.random(len(y)) for _ in range(rounds)]
    qinis = [qini_coefficient(d, treated, y) for d in draws]
    tops = [uplift_at(d, treated, y, TOP_SHARE) for d in draws]
    return {
        "scorer": "random",
        "qini": float(np.mean(qinis)),
        "qini_ci": [float(v) for v in np.percentile(qinis, [2.5, 97.5])],
        f"uplift_top_{int(TOP_SHARE * 100)}": float(np.mean(tops)),
        "uplift_top_ci": [float(v) for v in np.nanpercentile(tops, [2.5, 97.5])],
    }


def judge_targeting(
    scores: dict[str, np.ndarray], treated: np.ndarray, y: np.ndarray, rounds: int
) -> list[dict]:
    """Qini and uplift in the top 30 % for each score, with bootstrap intervals; the uplift
    models' Qini also as a paired difference with the propensity score's."""
    out = []
    for name, score in scores.items():
        if name == "random":
            out.append(_random_band(treated, y, rounds))
            continue
        qini = qini_coefficient(score, treated, y)
        low, high = bootstrap(qini_coefficient, (score, treated, y), rounds)
        top = uplift_at(score, treated, y, TOP_SHARE)
        top_low, top_high = bootstrap(
            lambda s, t, v: uplift_at(s, t, v, TOP_SHARE), (score, treated, y), rounds
        )
        row = {
            "scorer": name,
            "qini": qini,
            "qini_ci": [low, high],
            f"uplift_top_{int(TOP_SHARE * 100)}": top,
            "uplift_top_ci": [top_low, top_high],
        }
        if name not in ("random", "propensity"):
            diff = bootstrap(
                lambda s, p, t, v: qini_coefficient(s, t, v) - qini_coefficient(p, t, v),
                (score, scores["propensity"], treated, y),
                rounds,
            )
            row["qini_minus_propensity_ci"] = list(diff)
        out.append(row)
    return out


def policy_values(
    policies: dict[str, np.ndarray], assigned: np.ndarray, y: np.ndarray, rounds: int
) -> list[dict]:
    """What each offer policy would have yielded per customer had everyone been sent what it
    picks. Arms were assigned uniformly at random, so the customers whose random arm matches
    the policy's pick are a fair sample of the policy's world (the direct matching estimator of
    policy value, unbiased under uniform randomisation). `share_<arm>`: how often it picks
    each arm."""

    def value(choice: np.ndarray, arm: np.ndarray, outcome: np.ndarray) -> float:
        matched = choice == arm
        return float(outcome[matched].mean()) if matched.any() else float("nan")

    rows = []
    for name, choice in policies.items():
        low, high = bootstrap(value, (choice, assigned, y), rounds)
        shares = {f"share_{arm}": float(np.mean(choice == arm)) for arm in np.unique(assigned)}
        rows.append(
            {"policy": name, "value": value(choice, assigned, y), "value_ci": [low, high], **shares}
        )
    return rows
