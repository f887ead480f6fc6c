"""Identity of a synthetic head: named shape and appearance parameters, drawn from a seed.

Shape parameters are unitless in [-1, 1] (0 = average); appearance parameters are in
[0, 1] unless said otherwise. Names are data: they are stored in every dataset.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SHAPE_PARAMETERS = (
    "head_width", "head_height", "head_depth", "forehead_slope", "temple_width",
    "jaw_width", "jaw_angle", "face_length", "chin_height", "chin_protrusion", "chin_width",
    "cheekbone_height", "cheekbone_width", "cheek_fullness", "brow_ridge",
    "nose_length", "nose_width", "nose_bridge", "nose_tip", "nostril_flare",
    "eye_size", "eye_spacing", "eye_height", "eye_tilt",
    "upper_lip", "lower_lip", "mouth_width", "ear_size", "ear_protrusion", "neck_width",
)
APPEARANCE_PARAMETERS = (
    "skin_tone", "skin_redness", "lip_tint", "brow_darkness", "brow_thickness",
    "iris_hue", "hair_color", "hair_greyness", "hairline", "hair_volume", "skin_detail",
)
# Iris colours (brown, hazel, green, blue, grey) and hair colours (black .. blonde, red).
IRIS_COLORS = np.array([[0.25, 0.13, 0.06], [0.42, 0.30, 0.12], [0.28, 0.42, 0.22], [0.25, 0.42, 0.62], [0.45, 0.5, 0.52]])
HAIR_COLORS = np.array([[0.03, 0.025, 0.02], [0.12, 0.07, 0.04], [0.30, 0.18, 0.09], [0.62, 0.48, 0.28],
                        [0.45, 0.16, 0.06]])
# Skin albedo from very light to very dark (display-referred RGB): a realistic range of skin tones.
SKIN_TONES = np.array([[0.96, 0.80, 0.70], [0.90, 0.70, 0.57], [0.80, 0.58, 0.44], [0.66, 0.46, 0.32],
                       [0.47, 0.31, 0.21], [0.30, 0.19, 0.13]])


@dataclass(frozen=True)
class HeadIdentity:
    shape: dict = field(default_factory=lambda: {k: 0.0 for k in SHAPE_PARAMETERS})
    appearance: dict = field(default_factory=lambda: {k: 0.5 for k in APPEARANCE_PARAMETERS})
    detail_seed: int = 0  # the fine skin pattern

    @classmethod
    def sample(cls, seed: int) -> "HeadIdentity":
        rng = np.random.default_rng([int(seed), 1729])
        shape = {k: float(np.clip(rng.normal(0.0, 0.45), -1, 1)) for k in SHAPE_PARAMETERS}
        app = {k: float(rng.uniform()) for k in APPEARANCE_PARAMETERS}
        return cls(shape, app, int(rng.integers(0, 2**31 - 1)))

    def s(self, name: str) -> float:
        return self.shape.get(name, 0.0)

    def a(self, name: str) -> float:
        return self.appearance.get(name, 0.5)

    def vector(self) -> list[float]:
        return [self.shape[k] for k in SHAPE_PARAMETERS] + [self.appearance[k] for k in APPEARANCE_PARAMETERS]

    def to_json(self) -> dict:
        return {"shape": dict(self.shape), "appearance": dict(self.appearance), "detail_seed": self.detail_seed}

    @classmethod
    def from_json(cls, data: dict) -> "HeadIdentity":
        return cls(dict(data["shape"]), dict(data["appearance"]), int(data.get("detail_seed", 0)))

    # -- colours -------------------------------------------------------------------
    def skin_color(self) -> np.ndarray:
        return _ramp(SKIN_TONES, self.a("skin_tone"))

    def hair_color(self) -> np.ndarray:
        base = _ramp(HAIR_COLORS, self.a("hair_color"))
        grey = max(0.0, self.a("hair_greyness") - 0.75) * 4.0  # a quarter of heads greying
        return base * (1 - grey) + np.array([0.55, 0.55, 0.55]) * grey

    def iris_color(self) -> np.ndarray:
        return _ramp(IRIS_COLORS, self.a("iris_hue"))


def _ramp(colors: np.ndarray, t: float) -> np.ndarray:
    x = np.clip(t, 0, 1) * (len(colors) - 1)
    i = min(int(x), len(colors) - 2)
    f = x - i
    return colors[i] * (1 - f) + colors[i + 1] * f
