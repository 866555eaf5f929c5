"""The learned lead score: a calibrated logistic regression trained on the deals' own won/lost history.

Features are what a lead and a closed deal both can carry: the source and every choice field
(one-hot), number fields (standardised), the amount in buckets, each confirmed element of a
qualification framework, and the hours from creation to the first touch. Fields that only exist
because a deal closed (an outcome's required fields) are left out, or they would leak the answer.

The trained model is kept as plain JSON (feature names, scaling, coefficients, intercept and the
sigmoid calibration), so scoring needs neither scikit-learn nor a pickle, and a stored model
gives exactly the probabilities it gave when trained.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from dealflow.domain.deals import Deal
from dealflow.domain.lead_state import LeadState
from dealflow.errors import Refused
from dealflow.process.models import Process

MIN_CLOSED, MIN_PER_CLASS = 50, 10
AMOUNT_BUCKETS = ((5_000, "under 5k"), (25_000, "5k-25k"), (100_000, "25k-100k"))
NUMERIC_PREFIX = "#"  # names of standardised numbers start with it; the others are 0/1 indicators
Features = dict[str, float]


def _bucket(amount: float) -> str:
    return next((label for top, label in AMOUNT_BUCKETS if amount < top), "100k+")


def _usable_fields(process: Process) -> tuple[list[str], list[str]]:
    """The choice (and text ``source``) and number fields a model may learn from."""
    closing = {name for outcome in (process.outcomes.won, process.outcomes.lost) for name in outcome.required}
    choices = sorted(k for k, f in process.fields.items() if f.type == "choice" and k not in closing)
    # Where a deal came from and its segment are categories even when the process keeps them as text.
    for name in ("segment", "source"):
        if name not in choices and name not in closing:
            choices.insert(0, name)
    numbers = sorted(k for k, f in process.fields.items() if f.type == "number" and k not in closing)
    return choices, numbers


def _as_float(value: Any) -> float | None:
    try:
        found = float(str(value).replace(",", ""))
    except (TypeError, ValueError):
        return None
    return found if math.isfinite(found) else None


def _features(values: Mapping[str, Any], qualification: Mapping[str, Mapping[str, Any]], process: Process) -> Features:
    choices, numbers = _usable_fields(process)
    found: Features = {}
    for name in choices:
        value = values.get(name)
        if value not in (None, ""):
            found[f"{name}={str(value).strip().lower()[:60]}"] = 1.0
    for name in numbers:
        number = _as_float(values.get(name))
        if number is not None:
            found[f"{NUMERIC_PREFIX}{name}"] = math.log1p(max(number, 0.0))
    amount = _as_float(values.get("amount"))
    if amount is not None:
        found[f"amount={_bucket(amount)}"] = 1.0
    for framework, card in qualification.items():
        for element in card:
            found[f"{framework}:{element}"] = 1.0
    return found


def deal_features(deal: Deal, process: Process, first_touch_at: datetime | None) -> Features:
    """What a closed deal tells the model."""
    values = {name: evidence.value for name, evidence in deal.fields.items()}
    found = _features(values, deal.qualification, process)
    if first_touch_at is not None:
        hours = max((first_touch_at - deal.created_at).total_seconds() / 3600, 0.0)
        found[f"{NUMERIC_PREFIX}hours_to_first_touch"] = math.log1p(hours)
    return found


def lead_features(lead: LeadState, process: Process) -> Features:
    """What a lead tells the model (the same names as a deal's)."""
    values = {name: evidence.value for name, evidence in lead.fields.items()}
    return _features(values, lead.qualification, process)


def describe(feature: str) -> str:
    """A feature in words: ``source=demo_request`` as ``source is demo_request``."""
    if feature.startswith(NUMERIC_PREFIX):
        return feature.removeprefix(NUMERIC_PREFIX).replace("_", " ")
    if "=" in feature:
        name, value = feature.split("=", 1)
        return f"{name.replace('_', ' ')} is {value}"
    framework, element = feature.split(":", 1)
    return f"{framework.upper()} {element.replace('_', ' ')} confirmed"


@dataclass(frozen=True)
class LearnedModel:
    """A trained model as stored: enough to score a lead with NumPy alone."""

    features: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    calibration_a: float
    calibration_b: float
    auc: float
    n: int
    won: int
    lost: int
    trained_at: str

    estimator: Any = field(default=None, compare=False, repr=False)  # the fitted scikit-learn model, when trained here

    def vector(self, features: Features) -> np.ndarray:
        """The standardised vector of one record (a missing number counts as the average)."""
        raw = np.array([[features.get(name, np.nan) for name in self.features]], dtype=float)
        found: np.ndarray = _standardise(raw, self.features, np.array(self.means), np.array(self.scales))[0]
        return found

    def probability(self, features: Features) -> float:
        """The calibrated probability that a record with these features is won."""
        margin = float(self.vector(features) @ np.array(self.coef)) + self.intercept
        return float(1.0 / (1.0 + math.exp(self.calibration_a * margin + self.calibration_b)))

    def factors(self, features: Features, top: int = 5) -> list[tuple[str, float]]:
        """The features that moved this record's score most: (feature, coefficient x value)."""
        contributions = self.vector(features) * np.array(self.coef)
        order = np.argsort(-np.abs(contributions))
        return [(self.features[i], float(contributions[i])) for i in order[:top] if contributions[i] != 0.0]

    def top_features(self, top: int = 5) -> list[tuple[str, float]]:
        """The features with the heaviest weights overall."""
        order = np.argsort(-np.abs(np.array(self.coef)))
        return [(self.features[i], self.coef[i]) for i in order[:top]]

    def to_json(self) -> dict[str, Any]:
        """The model as JSON."""
        return {
            "kind": "logistic_regression",
            "features": list(self.features),
            "means": list(self.means),
            "scales": list(self.scales),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "calibration": {"method": "sigmoid", "a": self.calibration_a, "b": self.calibration_b},
            "auc": self.auc,
            "n": self.n,
            "won": self.won,
            "lost": self.lost,
            "trained_at": self.trained_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LearnedModel:
        """A model read back from its JSON."""
        calibration = data["calibration"]
        return cls(
            features=tuple(data["features"]),
            means=tuple(float(x) for x in data["means"]),
            scales=tuple(float(x) for x in data["scales"]),
            coef=tuple(float(x) for x in data["coef"]),
            intercept=float(data["intercept"]),
            calibration_a=float(calibration["a"]),
            calibration_b=float(calibration["b"]),
            auc=float(data["auc"]),
            n=int(data["n"]),
            won=int(data["won"]),
            lost=int(data["lost"]),
            trained_at=str(data["trained_at"]),
        )


def check_history(won: int, lost: int, process: str) -> None:
    """Refuse to train on too little history, saying how much there is and how much is needed."""
    closed = won + lost
    if closed >= MIN_CLOSED and won >= MIN_PER_CLASS and lost >= MIN_PER_CLASS:
        return
    raise Refused(
        f"too little history to learn from in process {process}: {closed} closed deals ({won} won, {lost} lost)",
        (
            f"Needs at least {MIN_CLOSED} closed deals, with at least {MIN_PER_CLASS} won and {MIN_PER_CLASS} lost",
            "Record more outcomes (or import history) and train again",
        ),
    )


def _standardise(raw: np.ndarray, names: Sequence[str], means: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Numbers as z-scores (missing ones as 0, the average); indicators as 1 or 0."""
    numeric = np.array([name.startswith(NUMERIC_PREFIX) for name in names], dtype=bool)
    scaled = np.nan_to_num((raw - means) / scales, nan=0.0)
    found: np.ndarray = np.where(numeric, scaled, np.nan_to_num(raw, nan=0.0))
    return found


def _matrix(rows: Sequence[Features], names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The raw matrix, and the means and scales of its number columns (1 and 0 for indicators)."""
    raw = np.array([[row.get(name, np.nan) for name in names] for row in rows], dtype=float)
    means, scales = np.zeros(len(names)), np.ones(len(names))
    for j, name in enumerate(names):
        column = raw[:, j]
        if name.startswith(NUMERIC_PREFIX) and np.isfinite(column).any():
            means[j] = float(np.nanmean(column))
            spread = float(np.nanstd(column))
            scales[j] = spread if spread > 0 else 1.0
    return raw, means, scales


def train(rows: Sequence[Features], won: Sequence[bool], *, now: datetime, seed: int = 0) -> LearnedModel:
    """Fit a calibrated logistic regression; the AUC is measured on a held-out stratified quarter."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    y = np.array(won, dtype=int)
    names = sorted({name for row in rows for name in row})
    if not names:
        raise Refused("the closed deals carry nothing to learn from (no source, choice fields or scorecards)")
    raw, means, scales = _matrix(rows, names)
    x = _standardise(raw, names, means, scales)

    def fit(x_fit: np.ndarray, y_fit: np.ndarray) -> CalibratedClassifierCV:
        base = LogisticRegression(max_iter=2000)
        model = CalibratedClassifierCV(base, method="sigmoid", cv=3, ensemble=False)
        return model.fit(x_fit, y_fit)

    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, stratify=y, random_state=seed)
    auc = float(roc_auc_score(y_test, fit(x_train, y_train).predict_proba(x_test)[:, 1]))
    fitted = fit(x, y)
    final = fitted.calibrated_classifiers_[0]
    estimator, calibrator = final.estimator, final.calibrators[0]
    return LearnedModel(
        features=tuple(names),
        means=tuple(float(m) for m in means),
        scales=tuple(float(s) for s in scales),
        coef=tuple(float(c) for c in estimator.coef_[0]),
        intercept=float(estimator.intercept_[0]),
        calibration_a=float(calibrator.a_),
        calibration_b=float(calibrator.b_),
        auc=auc,
        n=len(y),
        won=int(y.sum()),
        lost=int(len(y) - y.sum()),
        trained_at=now.isoformat(),
        estimator=fitted,
    )
