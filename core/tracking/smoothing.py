"""Temporal smoothing of tracked values: the One-Euro filter (Casiez, Roussel and Vogel,
CHI 2012), a low-pass filter whose cutoff rises with the signal's speed, so a still head
is steady and a quick turn is followed with little lag.

Two numbers tune it: `min_cutoff` (Hz; lower = steadier when still, more lag when slow)
and `beta` (how fast the cutoff rises with speed; higher = less lag on quick moves).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroSettings:
    min_cutoff: float = 1.0   # Hz
    beta: float = 0.0         # cutoff increase per unit/s of speed
    d_cutoff: float = 1.0     # Hz, for the speed estimate

    def __post_init__(self):
        if self.min_cutoff <= 0 or self.d_cutoff <= 0 or self.beta < 0:
            raise ValueError("One-Euro cutoffs must be positive and beta non-negative")


def _alpha(cutoff, dt: float):
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filters a vector of values, each component with its own adaptive cutoff."""

    def __init__(self, settings: OneEuroSettings = OneEuroSettings()):
        self.settings = settings
        self.value = None
        self._speed = None
        self._raw = None
        self._time = None

    def reset(self, value=None, time: float | None = None) -> None:
        """Forget the past; with a value, continue from it as if it had been still there."""
        if value is None:
            self.value = self._speed = self._raw = self._time = None
            return
        self.value = np.array(value, dtype=np.float64)
        self._raw = self.value.copy()
        self._speed = np.zeros_like(self.value)
        self._time = time

    def __call__(self, value, time: float) -> np.ndarray:
        x = np.array(value, dtype=np.float64)
        if self.value is None or self._time is None:
            self.reset(x, time)
            return self.value.copy()
        dt = time - self._time
        if dt <= 0:  # a repeated timestamp: nothing new can be learnt about the speed
            dt = 1e-3
        s = self.settings
        speed = (x - self._raw) / dt
        self._speed = self._speed + _alpha(s.d_cutoff, dt) * (speed - self._speed)
        cutoff = s.min_cutoff + s.beta * np.abs(self._speed)
        self.value = self.value + _alpha(cutoff, dt) * (x - self.value)
        self._raw, self._time = x, time
        return self.value.copy()
