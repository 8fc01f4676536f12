"""The uplift models on Kevin Hillstrom's randomised e-mail experiment (`nextsale evaluate
--dataset hillstrom`, docs/uplift.md).

64,000 customers were split at random into a men's e-mail, a women's e-mail and no e-mail, and
their visits, conversions and spend tracked for two weeks. Assignment was random, so on held-out
customers the treated-minus-control difference among the people a score puts first is an
unbiased measure of what targeting by that score would have gained. The data has no dates: the
split is random (stratified by arm), 70 % to learn and 30 % to judge.

Each uplift model (S-, T- and X-learner) is compared on the same held-out rows with random targeting
and with targeting by the response model (the propensity to visit, buy or spend when sent the
e-mail), the way most campaigns are targeted. Intervals are 95 % bootstrap percentiles over the
held-out customers.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ml.lift import measure_lift, minimum_detectable_lift
from ml.uplift import (
    CONTROL,
    TOP_SHARE,
    UpliftModel,
    judge_targeting,
    policy_values,
    qini_coefficient,
)
from nextsale_lab.importers import DEFAULT_SOURCE

DOC = Path(__file__).resolve().parents[1] / "docs" / "uplift.md"
FILE = Path("hillstrom") / "hillstrom.csv.gz"
ARMS = {"Mens E-Mail": "mens_email", "Womens E-Mail": "womens_email", "No E-Mail": CONTROL}
OUTCOMES = {"visit": True, "conversion": True, "spend": False}  # name -> binary
MAIN_OUTCOME = "visit"
NUMERIC = ["recency", "history", "mens", "womens", "newbie"]
CATEGORICAL = ["zip_code", "channel", "history_segment"]


def load_hillstrom(source: Path = DEFAULT_SOURCE) -> pd.DataFrame:
    path = source / FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: pass --source DIR, or see README 'Real data sets'"
        )
    frame = pd.read_csv(path)
    frame["arm"] = frame["segment"].map(ARMS)
    if frame["arm"].isna().any():
        raise ValueError(
            f"unknown segments in {path}: {set(frame.loc[frame['arm'].isna(), 'segment'])}"
        )
    for column in CATEGORICAL:
        frame[column] = frame[column].astype("category")
    return frame


def split(frame: pd.DataFrame, test_share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random split within each arm (the data has no dates to split on)."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(frame), dtype=bool)
    for _, rows in frame.groupby("arm").indices.items():
        test[rng.choice(rows, int(round(test_share * len(rows))), replace=False)] = True
    return frame[~test], frame[test]


REPEATED_SPLITS = 100


def repeated_splits(
    frame: pd.DataFrame, splits: int = REPEATED_SPLITS, test_share: float = 0.3
) -> list[dict]:
    """The main outcome's Qini over many stratified random splits (seeds 0..splits-1), each
    learner refitted on every split's 70 %: per e-mail and scorer, the mean Qini with the
    2.5-97.5 % range over splits, and the same for (learner - propensity targeting) paired on
    each split. One split's bootstrap interval leaves out how much the split itself moves the
    answer; this does not."""
    features = NUMERIC + CATEGORICAL
    values: dict[tuple[str, str], list[float]] = {}
    for seed in range(splits):
        train, test = split(frame, test_share, seed)
        learners = {
            f"{kind}_learner": UpliftModel(kind, True, seed=seed).fit(
                train[features], train["arm"], train[MAIN_OUTCOME].to_numpy()
            )
            for kind in ("s", "t", "x")
        }
        reference = learners["t_learner"]
        for arm in reference.arms:
            rows = test[test["arm"].isin([arm, CONTROL])]
            treated = (rows["arm"] != CONTROL).to_numpy()
            y = rows[MAIN_OUTCOME].to_numpy(dtype=float)
            scores = {name: m.uplift(rows[features], arm) for name, m in learners.items()}
            scores["propensity"] = reference.response(rows[features], arm)
            for name, score in scores.items():
                values.setdefault((arm, name), []).append(qini_coefficient(score, treated, y))
    out = []
    for (arm, scorer), qinis in values.items():
        qini = np.array(qinis)
        versus = qini - np.array(values[(arm, "propensity")])
        out.append(
            {
                "arm": arm,
                "scorer": scorer,
                "splits": splits,
                "qini_mean": float(qini.mean()),
                "qini_range": [float(v) for v in np.percentile(qini, [2.5, 97.5])],
                "minus_propensity_mean": float(versus.mean()),
                "minus_propensity_range": [float(v) for v in np.percentile(versus, [2.5, 97.5])],
                "beats_propensity_share": float(np.mean(versus > 0)),
            }
        )
    return out


def measured_lift(frame: pd.DataFrame, rounds: int) -> list[dict]:
    """Each e-mail against no e-mail over the whole experiment: visit and conversion rates,
    spend per customer, AOV (spend per converter) and incremental spend, with 95 % intervals,
    and the smallest conversion lift these group sizes could detect."""
    control = frame[frame["arm"] == CONTROL]
    rows = []
    for arm in sorted(a for a in frame["arm"].unique() if a != CONTROL):
        sent = frame[frame["arm"] == arm]
        visits = measure_lift(
            sent["visit"], sent["spend"], control["visit"], control["spend"], rounds
        )
        lifts = {"visit_rate": visits["conversion_rate"]}
        lifts |= measure_lift(
            sent["conversion"], sent["spend"], control["conversion"], control["spend"], rounds
        )
        detectable = minimum_detectable_lift(len(sent), len(control), control["conversion"].mean())
        for name, lift in lifts.items():
            rows.append(
                {
                    "arm": arm,
                    "measure": name,
                    "sent": len(sent),
                    "holdout": len(control),
                    "treated": lift.treated,
                    "held_out": lift.holdout,
                    "lift": lift.lift,
                    "ci": [lift.low, lift.high],
                    "relative": lift.relative,
                    "significant": lift.significant,
                    "detectable_conversion_lift": detectable,
                }
            )
    return rows


def evaluate_uplift(
    source: Path = DEFAULT_SOURCE,
    *,
    sample: bool = False,
    seed: int = 0,
    test_share: float = 0.3,
    bootstrap_rounds: int = 200,
    splits: int = REPEATED_SPLITS,
) -> dict[str, list[dict]]:
    """`targeting`: per outcome, e-mail and scorer, the Qini and uplift in the top 30 % on the
    held-out customers (that e-mail's and the control's). `offers`: per outcome, the value of
    sending everyone the e-mail each policy picks, beside sending nobody or one e-mail to all."""
    frame = load_hillstrom(source)
    if sample:
        frame = frame.sample(8000, random_state=seed)
    lift = measured_lift(frame, bootstrap_rounds)
    train, test = split(frame, test_share, seed)
    features = NUMERIC + CATEGORICAL
    targeting, offers = [], []
    for outcome, binary in OUTCOMES.items():
        learners = {
            f"{kind}_learner": UpliftModel(kind, binary, seed=seed).fit(
                train[features], train["arm"], train[outcome].to_numpy()
            )
            for kind in ("s", "t", "x")
        }
        reference = learners["t_learner"]  # its per-arm outcome models are the response models
        for arm in reference.arms:
            rows = test[test["arm"].isin([arm, CONTROL])]
            x = rows[features]
            treated = (rows["arm"] != CONTROL).to_numpy()
            y = rows[outcome].to_numpy(dtype=float)
            scores = {name: m.uplift(x, arm) for name, m in learners.items()}
            scores["propensity"] = reference.response(x, arm)
            scores["random"] = np.zeros(len(rows))  # judged as the band of random orderings
            for row in judge_targeting(scores, treated, y, bootstrap_rounds):
                targeting.append(
                    {
                        "outcome": outcome,
                        "arm": arm,
                        "rows": len(rows),
                        "treated": int(treated.sum()),
                        "treated_rate": float(y[treated].mean()),
                        "control_rate": float(y[~treated].mean()),
                        **row,
                    }
                )
        # the offer choice, on every held-out customer
        x, arms = test[features], np.array(reference.arms)
        policies = {"no e-mail": np.full(len(test), CONTROL)}
        policies |= {f"{a} to all": np.full(len(test), a) for a in arms}
        policies["random e-mail"] = np.random.default_rng(seed).choice(arms, len(test))
        policies["higher propensity"] = arms[
            np.argmax([reference.response(x, a) for a in arms], axis=0)
        ]
        for name, model in learners.items():
            policies[f"higher uplift ({name})"] = arms[
                np.argmax([model.uplift(x, a) for a in arms], axis=0)
            ]
        for row in policy_values(
            policies, test["arm"].to_numpy(), test[outcome].to_numpy(dtype=float), bootstrap_rounds
        ):
            offers.append({"outcome": outcome, **row})
    return {
        "lift": lift,
        "targeting": targeting,
        "offers": offers,
        "repeated_splits": repeated_splits(frame, splits, test_share),
    }


def _interval(values: list[float], digits: int) -> str:
    return f"[{values[0]:,.{digits}f}, {values[1]:,.{digits}f}]"


def headline(results: dict[str, list[dict]]) -> list[str]:
    """Per e-mail, on the main outcome: does each uplift learner beat random targeting (its Qini
    interval above the random band's mean of 0) and propensity targeting (the paired interval of
    the difference above 0)?"""
    lines = []
    for r in results["targeting"]:
        if r["outcome"] != MAIN_OUTCOME or "qini_minus_propensity_ci" not in r:
            continue
        beats_random = r["qini_ci"][0] > 0
        beats_propensity = r["qini_minus_propensity_ci"][0] > 0
        verdict = (
            "beats random and propensity targeting"
            if beats_random and beats_propensity
            else "beats random but not propensity targeting"
            if beats_random
            else "does not beat random targeting"
        )
        lines.append(
            f"- {r['arm']}, {r['scorer']}: Qini {r['qini']:.4f} {_interval(r['qini_ci'], 4)}, "
            f"{verdict} (Qini - propensity {_interval(r['qini_minus_propensity_ci'], 4)})."
        )
    return lines


def write_doc(results: dict[str, list[dict]], seconds: float, path: Path = DOC) -> None:
    lines = [
        "# Uplift on a randomised experiment (Hillstrom)",
        "",
        "Written by `nextsale evaluate --dataset hillstrom`; do not edit by hand. "
        + " ".join((__doc__ or "").split("\n\n")[1:3]).replace("\n", " "),
        "",
        "Qini: the area between the Qini curve and random targeting, in incremental outcomes per "
        f"customer (0 = random). Uplift top {int(TOP_SHARE * 100)} %: treated minus control "
        f"outcome among the {int(TOP_SHARE * 100)} % the score puts first. Random: the mean and "
        "95 % band of 200 random orderings. Qini - propensity: a paired bootstrap interval. "
        "Offer choice: the outcome per customer had everyone been sent what the policy picks, "
        "estimated on the held-out customers whose random e-mail matches the pick. Between two "
        "e-mails the S- and T-learner pick what the response model picks (the no-e-mail term is "
        "the same for both); only the X-learner can differ.",
        "",
        f"## Headline ({MAIN_OUTCOME}, over {results['repeated_splits'][0]['splits']} stratified splits)",
        "",
        "Each learner refitted on each split's 70 % and judged on its 30 %: the mean Qini and "
        "the 2.5-97.5 % range over the splits, and the same for the learner minus propensity "
        "targeting on the same split. The sections below are one split (seed 0) in detail.",
        "",
        "| e-mail | scorer | Qini, mean | range over splits | minus propensity, mean | range "
        "| splits where it beats propensity |",
        "|---|---|---:|---|---:|---|---:|",
        *(
            f"| {r['arm']} | {r['scorer']} | {r['qini_mean']:.4f} | "
            f"{_interval(r['qini_range'], 4)} | {r['minus_propensity_mean']:+.4f} | "
            f"{_interval(r['minus_propensity_range'], 4)} | {r['beats_propensity_share']:.0%} |"
            for r in results["repeated_splits"]
        ),
        "",
        f"One split (seed 0), {MAIN_OUTCOME}:",
        "",
        *headline(results),
        "",
        "## Measured lift (the whole experiment, each e-mail against no e-mail)",
        "",
        "What sending did, with 95 % stratified-bootstrap intervals (`ml/lift.py`). "
        "Incremental spend is the spend-per-customer lift times the customers sent. The last "
        "column is the smallest absolute conversion lift groups of these sizes detect with 80 % "
        "power at the 5 % level.",
        "",
        "| e-mail | measure | sent | not sent | lift | 95 % CI | relative | detectable conversion lift |",
        "|---|---|---:|---:|---:|---|---:|---:|",
        *(
            f"| {r['arm']} | {r['measure']} | {r['treated']:,.4f} | {r['held_out']:,.4f} "
            f"| {r['lift']:,.4f} | {_interval(r['ci'], 4)} | {r['relative']:+.0%} "
            f"| {r['detectable_conversion_lift']:.4f} |"
            for r in results["lift"]
        ),
        "",
    ]
    for outcome in OUTCOMES:
        digits = 2 if outcome == "spend" else 4
        lines += [
            f"## {outcome}{' (main outcome)' if outcome == MAIN_OUTCOME else ''}",
            "",
            "| e-mail | sent / held out | rate sent | rate not sent | scorer | Qini | 95 % CI "
            f"| uplift top {int(TOP_SHARE * 100)} % | 95 % CI | Qini - propensity, 95 % CI |",
            "|---|---:|---:|---:|---|---:|---|---:|---|---|",
        ]
        for r in (r for r in results["targeting"] if r["outcome"] == outcome):
            diff = r.get("qini_minus_propensity_ci")
            lines.append(
                f"| {r['arm']} | {r['treated']:,} / {r['rows'] - r['treated']:,} | {r['treated_rate']:.{digits}f} "
                f"| {r['control_rate']:.{digits}f} | {r['scorer']} | {r['qini']:.{digits + 1}f} "
                f"| {_interval(r['qini_ci'], digits + 1)} | {r['uplift_top_30']:.{digits}f} "
                f"| {_interval(r['uplift_top_ci'], digits)} | {_interval(diff, digits + 1) if diff else ''} |"
            )
        lines += [
            "",
            f"Offer choice ({outcome} per customer):",
            "",
            "| policy | value | 95 % CI | share sent the women's e-mail |",
            "|---|---:|---|---:|",
        ]
        for r in (r for r in results["offers"] if r["outcome"] == outcome):
            lines.append(
                f"| {r['policy']} | {r['value']:.{digits}f} | {_interval(r['value_ci'], digits)} "
                f"| {r['share_womens_email']:.0%} |"
            )
        lines.append("")
    lines.append(f"Total time: {seconds:.0f} s.")
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def run(source: Path, json_path: Path | None, sample: bool, write_docs: bool) -> dict:
    started = time.perf_counter()
    print("[hillstrom] uplift models: S-, T- and X-learner, per outcome and e-mail", flush=True)
    results = evaluate_uplift(source, sample=sample, splits=10 if sample else REPEATED_SPLITS)
    if json_path:
        json_path.write_text(json.dumps(results, indent=2))
    if write_docs:
        write_doc(results, time.perf_counter() - started)
    for r in results["targeting"]:
        if r["outcome"] == MAIN_OUTCOME:
            print(
                f"  {r['arm']:<13} {r['scorer']:<10} Qini {r['qini']:.4f} {_interval(r['qini_ci'], 4)}"
            )
    return results
