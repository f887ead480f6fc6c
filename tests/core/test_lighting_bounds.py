"""SH coefficients too large for the float32 renderer are refused (bad-input campaign:
a state with SH 1e308 rendered a NaN image, exit 0, over the existing output)."""
import numpy as np
import pytest

from core.lighting import SphericalHarmonicsLighting


@pytest.mark.parametrize("value", [1e308, -1e40, 2e6])
def test_huge_coefficients_are_a_value_error(value):
    with pytest.raises(ValueError, match="SH lighting"):
        SphericalHarmonicsLighting(np.full((9, 3), value))


def test_bright_but_sane_lighting_still_loads():
    SphericalHarmonicsLighting(np.full((9, 3), 5e3))
    SphericalHarmonicsLighting.preset("studio")
