"""Versioned model artifacts on disk, and which version is published.

    <artifacts_dir>/models/<model>/<version>/model.ubj      the booster
    <artifacts_dir>/models/<model>/<version>/model.json     features, categories, calibration,
                                                            metrics, baselines, gate, the test
                                                            cutoff's chart tables, training
                                                            window, training-data hash
    <artifacts_dir>/models/<model>/published.json           the version scoring uses

Every run writes a version; only one that passed the quality gate becomes published, so scoring
keeps the last good model when a new one fails.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import xgboost as xgb

from ml.train import ModelRun, TrainedModel, data_hash


@dataclass(frozen=True)
class SavedVersion:
    name: str
    version: str
    path: Path
    published: bool
    manifest: dict


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (float(v) if math.isfinite(v) else None) for k, v in values.items()}


def _records(table: pd.DataFrame) -> list[dict]:
    return json.loads(table.to_json(orient="records"))  # NaN -> null, numpy -> plain numbers


def manifest(run: ModelRun) -> dict:
    spec = run.spec
    model = run.model
    return {
        "model": spec.name,
        "kind": spec.kind,
        "description": spec.description,
        "label": spec.label,
        "horizon_days": run.horizon_days,
        "main_metric": spec.main_metric,
        "metrics": _finite(run.metrics),
        "baselines": {name: _finite(values) for name, values in run.baselines.items()},
        "gate": {"passed": run.gate.passed, "reasons": run.gate.reasons},
        "best_baseline": list(run.best_baseline) if run.best_baseline else None,
        # the rolling origin: every test cutoff's metrics, and the paired interval per baseline
        "folds": [
            {
                "test_cutoff": fold.test_cutoff.isoformat(),
                "n_train": fold.n_train,
                "n_test": fold.n_test,
                "metrics": _finite(fold.metrics),
                "baselines": {n: _finite(v) for n, v in fold.baselines.items()},
            }
            for fold in run.folds
        ],
        "comparisons": {n: c.as_dict() for n, c in run.comparisons.items()},
        "details": {
            name: _finite(values) if isinstance(values, dict) else values
            for name, values in run.details.items()
        },
        # the test cutoff's lift, calibration or decile tables, model and baselines, for charts
        "charts": {name: _records(table) for name, table in run.tables.items()},
        "test_cutoff": run.test_cutoff.isoformat() if run.test_cutoff else None,
        "train_cutoffs": [c.isoformat() for c in run.train_cutoffs],
        "n_train": run.n_train,
        "n_test": run.n_test,
        "training_data_sha256": run.data_hash,
        "fit_seconds": round(run.fit_seconds, 3),
        "features": model.features if model else [],
        "categories": model.categories if model else {},
        "calibration": list(model.calibration) if model and model.calibration else None,
        "prediction_scale": model.prediction_scale if model else 1.0,
        "offset": list(model.offset) if model and model.offset else None,
        "value_if_converted": model.value_if_converted if model else None,
        "peers": list(model.peers) if model and model.peers else None,
        "best_iteration": model.booster.num_boosted_rounds() if model else None,
        "xgboost_version": xgb.__version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_version(
    artifacts_dir: Path, name: str, data_hash: str, info: dict, write_files, publish: bool
) -> tuple[str, Path, dict]:
    """A new version folder of model `name`: `write_files(folder)` writes the model's files and
    model.json the manifest; the published pointer moves to it only if `publish`."""
    version = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{data_hash[:8]}"
    root = artifacts_dir / "models" / name
    path = root / version
    path.mkdir(parents=True, exist_ok=True)
    write_files(path)
    info = {"version": version, **info}
    (path / "model.json").write_text(json.dumps(info, indent=2))
    if publish:
        (root / "published.json").write_text(json.dumps({"version": version}))
    return version, path, info


def inputs_fingerprint(*frames: pd.DataFrame, **inputs) -> str:
    """What a training run's result depends on: its rows, the calendar and other `inputs`, the
    model code (every module of ml/) and XGBoost's version. Equal fingerprints, equal runs."""
    digest = hashlib.sha256(data_hash(*frames).encode())
    digest.update(json.dumps(inputs, sort_keys=True, default=str).encode())
    for module in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(module.read_bytes())
    digest.update(xgb.__version__.encode())
    return digest.hexdigest()


def reuse(artifacts_dir: Path, name: str, fingerprint: str) -> SavedVersion | None:
    """The latest version, when it was trained on exactly these inputs: training again would
    give the same model and the same gate decision, so it is not repeated."""
    latest = latest_manifest(artifacts_dir, name)
    if latest is None or latest.get("inputs_sha256") != fingerprint:
        return None
    version = latest["version"]
    path = artifacts_dir / "models" / name / version
    return SavedVersion(
        name, version, path, published_version(artifacts_dir, name) == version, latest
    )


def save(run: ModelRun, artifacts_dir: Path, fingerprint: str | None = None) -> SavedVersion:
    """Write the run's version (with the fingerprint of its inputs, for `reuse`); publish it if
    it passed the gate."""

    def write_files(path: Path) -> None:
        if run.model is not None:
            run.model.booster.save_model(path / "model.ubj")

    published = run.gate.passed and run.model is not None
    info = manifest(run) | {"inputs_sha256": fingerprint}
    version, path, info = write_version(
        artifacts_dir, run.spec.name, run.data_hash, info, write_files, published
    )
    return SavedVersion(run.spec.name, version, path, published, info)


def published_version(artifacts_dir: Path, name: str) -> str | None:
    pointer = artifacts_dir / "models" / name / "published.json"
    return json.loads(pointer.read_text())["version"] if pointer.exists() else None


def load(artifacts_dir: Path, name: str, version: str | None = None) -> TrainedModel | None:
    """A saved model (by default the published one), or None if none was ever published."""
    version = version or published_version(artifacts_dir, name)
    if version is None:
        return None
    path = artifacts_dir / "models" / name / version
    info = json.loads((path / "model.json").read_text())
    booster = xgb.Booster()
    booster.load_model(path / "model.ubj")
    return TrainedModel(
        name=name,
        kind=info["kind"],
        booster=booster,
        features=info["features"],
        categories=info["categories"],
        calibration=tuple(info["calibration"]) if info["calibration"] else None,
        prediction_scale=info["prediction_scale"],
        offset=tuple(info["offset"]) if info.get("offset") else None,
        value_if_converted=info.get("value_if_converted"),
        peers=tuple(info["peers"]) if info.get("peers") else None,
        version=version,
    )


def latest_manifest(artifacts_dir: Path, name: str) -> dict | None:
    """The most recent version's manifest (published or not), for status reports."""
    root = artifacts_dir / "models" / name
    versions = sorted(v for v in root.glob("*/model.json")) if root.is_dir() else []
    return json.loads(versions[-1].read_text()) if versions else None


def model_status(artifacts_dir: Path, names: list[str]) -> pd.DataFrame:
    """One row per model: the version whose scores are used (null: none was ever published, so
    its scores are null), the latest version trained and what its gate said."""
    rows = []
    for name in names:
        latest = latest_manifest(artifacts_dir, name)
        in_use = published_version(artifacts_dir, name)
        reason = "; ".join(latest["gate"]["reasons"]) if latest else "never trained"
        rows.append(
            {
                "model": name,
                "version_in_use": in_use,
                "latest_version": latest["version"] if latest else None,
                "latest_published": latest is not None and latest["version"] == in_use,
                "gate_reason": reason,
                "scores": "from the latest version"
                if latest and latest["version"] == in_use
                else f"from {in_use}, the last version that passed"
                if in_use
                else "null: no version has passed its gate",
            }
        )
    return pd.DataFrame(rows)
