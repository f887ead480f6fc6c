"""Expression control space: one named vector with ARKit blendshape names.

Using Apple's ARKit names means ARKit / Live Link Face captures map in with no table.
A model supports a subset; its checkpoint stores the names it was trained with, and
everything downstream (sliders, tracker, dataset labels) follows those names.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PRESETS_FILE = Path(__file__).resolve().parents[1] / "resources" / "expression_presets.json"

ARKIT_BLENDSHAPES = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight",
    "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight",
    "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight",
    "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight", "tongueOut",
)

# The set the synthetic engine renders and the default model is conditioned on.
DEFAULT_EXPRESSION_NAMES = (
    "jawOpen", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthPucker", "mouthFunnel", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "browDownLeft", "browDownRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeWideLeft",
    "eyeWideRight", "cheekPuff",
)

VALUE_RANGE = (0.0, 1.0)  # ARKit weights


def validate_names(names) -> tuple[str, ...]:
    names = tuple(names)
    unknown = [n for n in names if n not in ARKIT_BLENDSHAPES]
    if unknown:
        raise ValueError(f"unknown expression name(s) {unknown}: expected ARKit blendshape names")
    if len(set(names)) != len(names):
        raise ValueError("expression names repeat")
    return names


@dataclass(frozen=True)
class Expression:
    """Weights in [0, 1] for an ordered tuple of ARKit names; neutral is all zeros."""

    names: tuple[str, ...] = DEFAULT_EXPRESSION_NAMES
    values: np.ndarray = None

    def __post_init__(self):
        names = validate_names(self.names)
        values = np.zeros(len(names)) if self.values is None else np.asarray(self.values, np.float64).reshape(-1)
        if values.shape != (len(names),):
            raise ValueError(f"expression has {len(names)} names but {values.size} values")
        if not np.all(np.isfinite(values)):
            raise ValueError("expression values must be finite")
        lo, hi = VALUE_RANGE
        bad = [n for n, v in zip(names, values) if v < lo - 1e-9 or v > hi + 1e-9]
        if bad:
            raise ValueError(f"expression value(s) for {bad} outside [{lo}, {hi}]")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "values", np.clip(values, lo, hi))

    @classmethod
    def neutral(cls, names=DEFAULT_EXPRESSION_NAMES) -> "Expression":
        return cls(tuple(names))

    @classmethod
    def from_dict(cls, weights: dict, names=DEFAULT_EXPRESSION_NAMES, strict: bool = True) -> "Expression":
        """Weights by name; names the model lacks raise (strict) or are dropped."""
        names = tuple(names)
        extra = [k for k in weights if k not in names]
        if extra and strict:
            raise ValueError(f"expression name(s) {extra} not in this model's set")
        return cls(names, [float(weights.get(n, 0.0)) for n in names])

    def to_dict(self) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.names, self.values)}

    def __getitem__(self, name: str) -> float:
        return float(self.values[self.names.index(name)])

    def with_value(self, name: str, value: float) -> "Expression":
        if name not in self.names:
            raise ValueError(f"expression name {name!r} not in this model's set")
        v = self.values.copy()
        v[self.names.index(name)] = value
        return Expression(self.names, v)

    def with_names(self, names) -> "Expression":
        """Re-express in another model's name set (missing names become 0)."""
        return Expression.from_dict(self.to_dict(), names, strict=False)

    def lerp(self, other: "Expression", t: float) -> "Expression":
        other = other.with_names(self.names)
        return Expression(self.names, (1.0 - t) * self.values + t * other.values)

    def key(self) -> bytes:
        return self.values.astype(np.float32).tobytes() + "|".join(self.names).encode()

    def __eq__(self, other):
        return isinstance(other, Expression) and self.names == other.names and np.array_equal(self.values, other.values)

    def __hash__(self):
        return hash(self.key())


def load_expression_presets(names=DEFAULT_EXPRESSION_NAMES, path: Path = PRESETS_FILE) -> dict[str, Expression]:
    """Named expressions in a model's name set (weights for names it lacks are dropped)."""
    data = json.loads(Path(path).read_text())
    return {k: Expression.from_dict(v, names, strict=False) for k, v in data["presets"].items()}
