"""Measure photo fitting on held-out synthetic heads (issue 13's "Done when").

Heads come from the synthetic engine with `--seed 2` identities (training used seed 1):
HeadIdentity.sample(2 * 1_000_003 + i), a random near-frontal view, random lighting and
a random expression (training/synth/sampling.py). For each: the photo is the engine's
render over white; the fit is measured on the re-render of the input view, on views at
yaw +-30 deg against the engine's truth (same expression and lighting), and relit under
a preset the photo was not lit by, against the engine relit. Then the astronaut photo
(skimage.data.astronaut): dlib face-embedding distances of the fit rendered frontal and
at yaw +-20 deg, and the docs figure.

    .venv/bin/python -m training.fit_eval --heads 8 --json runs/fit_eval.json
    .venv/bin/python -m training.fit_eval --astronaut --figure docs/photo-fitting.png
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass

import numpy as np

from core.expression import DEFAULT_EXPRESSION_NAMES, Expression
from core.lighting import SphericalHarmonicsLighting
from core.state import OrbitPose

HELD_OUT_SEED = 2
RELIGHT_PRESET = ("key-left", "key-right")
NOVEL_YAWS = (-30.0, 30.0)


@dataclass
class SyntheticPhoto:
    image: np.ndarray           # (S, S, 3) over white
    camera: OrbitPose
    lighting: SphericalHarmonicsLighting
    expression: Expression
    render: object              # render(camera OrbitPose, expression, lighting) -> (S, S, 3) over white


class HeldOutHeads:
    """Engine heads never trained on, rendered at one resolution (one GL context)."""

    def __init__(self, resolution: int = 256, seed: int = HELD_OUT_SEED):
        from training.synth.renderer import HeadRenderer

        self.resolution = resolution
        self.seed = seed
        self.renderer = HeadRenderer(resolution)

    def head(self, index: int, max_yaw: float = 20.0, expressions: str = "random") -> SyntheticPhoto:
        from training.synth.head_mesh import HeadBuilder
        from training.synth.identity import HeadIdentity
        from training.synth.renderer import mouth_cavity_transfer
        from training.synth.sampling import sample_expression, sample_lighting

        ident = HeadIdentity.sample(self.seed * 1_000_003 + index)
        builder = HeadBuilder(ident)
        transfer = self.renderer.visibility_transfer(builder.build())
        rng = np.random.default_rng([self.seed, index, 13])
        camera = OrbitPose(yaw=float(rng.uniform(-max_yaw, max_yaw)), pitch=float(np.clip(rng.normal(2, 5), -12, 15)))
        lighting = sample_lighting(rng, "random")
        expression = sample_expression(rng, DEFAULT_EXPRESSION_NAMES, expressions)
        white = np.ones((self.resolution, self.resolution, 3))

        def render(cam: OrbitPose, expr: Expression, light: SphericalHarmonicsLighting) -> np.ndarray:
            geo = builder.build(expr)
            return self.renderer.render(geo, cam.to_camera(), light, white,
                                        mouth_cavity_transfer(transfer, geo)).rgb.astype(np.float32)

        return SyntheticPhoto(render(camera, expression, lighting), camera, lighting, expression, render)

    def release(self):
        self.renderer.release()
