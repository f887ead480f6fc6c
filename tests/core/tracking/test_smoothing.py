import numpy as np
import pytest

from core.tracking.smoothing import OneEuroFilter, OneEuroSettings
from core.tracking.tracker import TrackerSettings

FPS = 30.0


def run(filter_, values):
    return np.array([filter_(v, i / FPS) for i, v in enumerate(values)])


def test_smoothing_reduces_jitter_of_a_still_value():
    rng = np.random.default_rng(0)
    raw = 10.0 + rng.normal(0.0, 0.5, (300, 3))   # degrees: a still head's pose noise
    out = run(OneEuroFilter(TrackerSettings().pose_smoothing), raw)
    settled = out[30:]
    assert settled.std(axis=0).max() < 0.3 * raw.std(axis=0).min()  # a third of the noise or less
    assert np.abs(settled.mean(axis=0) - 10.0).max() < 0.2


def test_a_30_degree_turn_is_followed_within_three_frames():
    raw = np.r_[np.zeros(30), np.full(30, 30.0)]
    out = run(OneEuroFilter(TrackerSettings().pose_smoothing), raw[:, None])[:, 0]
    assert out[29] == pytest.approx(0.0)
    assert out[30] > 10.0               # it starts moving at once
    assert abs(out[32] - 30.0) < 3.0    # and is within 10% by the third frame
    assert np.all(out[33:] <= 30.0 + 1e-9)  # without overshoot


def test_without_adaptation_the_same_cutoff_lags():
    """beta is what makes the turn quick: with it at zero, the same filter lags."""
    s = TrackerSettings().pose_smoothing
    raw = np.r_[np.zeros(30), np.full(30, 30.0)][:, None]
    slow = run(OneEuroFilter(OneEuroSettings(s.min_cutoff, 0.0, s.d_cutoff)), raw)[:, 0]
    assert abs(slow[32] - 30.0) > 10.0


def test_reset_continues_from_a_value():
    f = OneEuroFilter(OneEuroSettings(1.0, 0.0))
    f.reset([5.0], 0.0)
    assert f([5.0], 1 / FPS)[0] == pytest.approx(5.0)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        OneEuroSettings(min_cutoff=0.0)
