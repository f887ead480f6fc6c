"""Random cameras, lighting, expressions and backgrounds for synthetic datasets.

The distributions imitate portrait photos: mostly frontal cameras, a key light from the
front half-space with a soft fill, expressions that are usually mild and sometimes
strong, and plain, coloured or textured backgrounds.
"""
from __future__ import annotations

import math

import numpy as np

from core.expression import Expression
from core.lighting import SphericalHarmonicsLighting, load_presets
from core.state import OrbitPose


def sample_pose(rng: np.random.Generator, yaw_std: float = 25.0, pitch_std: float = 8.0, max_yaw: float = 60.0) -> OrbitPose:
    yaw = float(np.clip(rng.normal(0.0, yaw_std), -max_yaw, max_yaw))
    pitch = float(np.clip(rng.normal(2.0, pitch_std), -25.0, 30.0))
    return OrbitPose(yaw=yaw, pitch=pitch)


def sample_lighting(rng: np.random.Generator, mode: str = "random") -> SphericalHarmonicsLighting:
    if mode == "presets":
        presets = load_presets()
        name = sorted(presets)[int(rng.integers(len(presets)))]
        return presets[name]
    if mode != "random":
        raise ValueError(f"lighting mode {mode!r}: use random or presets")
    az = math.radians(rng.uniform(-75, 75))
    el = math.radians(rng.uniform(-10, 55))
    key = np.array([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)])
    warmth = rng.uniform(-1, 1)
    tint = np.array([1.0 + 0.12 * warmth, 1.0, 1.0 - 0.12 * warmth])
    light = SphericalHarmonicsLighting.from_directional(key, tint, intensity=rng.uniform(0.55, 1.0),
                                                        ambient=rng.uniform(0.25, 0.55) * (tint * 0.3 + 0.7))
    if rng.uniform() < 0.5:  # a fill light from the other side
        fill = np.array([-key[0], rng.uniform(-0.2, 0.4), abs(key[2]) + 0.3])
        light = SphericalHarmonicsLighting(light.coeffs + SphericalHarmonicsLighting.from_directional(
            fill, intensity=rng.uniform(0.1, 0.3)).coeffs)
    return light


def sample_expression(rng: np.random.Generator, names, mode: str = "random") -> Expression:
    names = tuple(names)
    if mode == "neutral":
        return Expression.neutral(names)
    if mode not in ("random", "mild"):
        raise ValueError(f"expression mode {mode!r}: use random, mild or neutral")
    values = np.zeros(len(names))
    if rng.uniform() < 0.3:
        return Expression(names, values)
    count = int(rng.integers(1, 4))
    top = 0.5 if mode == "mild" else 1.0
    for idx in rng.choice(len(names), size=min(count, len(names)), replace=False):
        values[idx] = rng.uniform(0.2, top)
    return Expression(names, values)


def sample_strong_expression(rng: np.random.Generator, names, focus: int) -> Expression:
    """An expression for paired training data: every name is seen often at full strength,
    alone and in combination. Half the time `focus` alone at 0.6..1; otherwise `focus`
    plus one or two others, each 0.3..1 (a left/right pair is sometimes moved together,
    as faces usually do)."""
    names = tuple(names)
    values = np.zeros(len(names))
    values[focus % len(names)] = rng.uniform(0.6, 1.0)
    if rng.uniform() < 0.5:
        return Expression(names, values)
    for idx in rng.choice(len(names), size=int(rng.integers(1, 3)), replace=False):
        values[idx] = max(values[idx], rng.uniform(0.3, 1.0))
    name = names[focus % len(names)]
    for side, other in (("Left", "Right"), ("Right", "Left")):
        if name.endswith(side) and name[: -len(side)] + other in names and rng.uniform() < 0.5:
            values[names.index(name[: -len(side)] + other)] = values[focus % len(names)] * rng.uniform(0.7, 1.0)
    return Expression(names, values)


def sample_background(rng: np.random.Generator, res: int, mode: str = "random") -> np.ndarray:
    """(res, res, 3) background: plain white, a random colour, or a smooth random texture."""
    if mode == "plain":
        return np.ones((res, res, 3))
    if mode not in ("random", "colour", "texture"):
        raise ValueError(f"background mode {mode!r}: use plain, colour, texture or random")
    kind = mode if mode != "random" else ("colour", "texture", "plain")[int(rng.integers(3))]
    if kind == "plain":
        return np.ones((res, res, 3))
    if kind == "colour":
        return np.broadcast_to(rng.uniform(0.15, 0.95, 3), (res, res, 3)).copy()
    import cv2

    tex = np.zeros((res, res, 3))
    for cells, amp in ((4, 0.6), (12, 0.3), (40, 0.1)):
        small = rng.uniform(0, 1, (cells, cells, 3)).astype(np.float32)
        tex += amp * cv2.resize(small, (res, res), interpolation=cv2.INTER_CUBIC)
    base = rng.uniform(0.2, 0.8, 3)
    return np.clip(base + 0.5 * (tex - tex.mean()), 0, 1)
