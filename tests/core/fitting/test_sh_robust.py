"""The SH solve behind prepare's lighting labels keeps to the diffuse skin: highlights
(brighter than the Lambertian model can make) and shadows pull a plain least-squares fit
towards the key light; the robust solve stays near the true light."""
import numpy as np

from core.fitting.sh_estimate import ridge_matrix, robust_sh_solve
from core.lighting import BAND_CONVOLUTION, SphericalHarmonicsLighting, sh_basis, sh_irradiance


def _plain(y, target):
    return np.linalg.solve(y.T @ y + ridge_matrix(len(y)), y.T @ target)


def _face_normals(rng, count=3000):
    """Normals spread like a face's seen from the front (towards the camera, +z)."""
    n = rng.normal(size=(count, 3))
    n[:, 2] = np.abs(n[:, 2]) + 0.6
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def test_highlights_and_shadows_do_not_steer_the_robust_solve():
    rng = np.random.default_rng(3)
    n = _face_normals(rng)
    key = np.array([0.6, 0.4, 0.7]) / np.linalg.norm([0.6, 0.4, 0.7])
    light = SphericalHarmonicsLighting.from_directional(key, (1.0, 0.95, 0.9), intensity=0.8, ambient=0.4).coeffs
    diffuse = sh_irradiance(n, light)
    spec = 0.6 * np.clip(n @ key, 0, 1) ** 40            # a sheen where the key light reflects (~10 %)
    shadow = np.where(n[:, 0] < -0.8, 0.5, 1.0)          # the far cheek's edge in a cast shadow (~4 %)
    observed = diffuse * shadow[:, None] + spec[:, None] + rng.normal(0, 0.01, diffuse.shape)
    y = sh_basis(n) * np.asarray(BAND_CONVOLUTION)[None]
    # against the same solve on the diffuse shading alone (the ridge's own pull aside)
    clean = sh_irradiance(n, _plain(y, diffuse))

    def err(c):
        return np.abs(sh_irradiance(n, c) - clean).mean() / np.abs(clean).mean()

    robust, plain = err(robust_sh_solve(y, observed)), err(_plain(y, observed))
    assert robust < 0.035, robust
    assert robust < 0.7 * plain, (robust, plain)


def test_on_diffuse_shading_the_robust_solve_is_the_plain_one():
    n = _face_normals(np.random.default_rng(0))
    diffuse = sh_irradiance(n, SphericalHarmonicsLighting.preset("studio").coeffs)
    y = sh_basis(n) * np.asarray(BAND_CONVOLUTION)[None]
    a, b = sh_irradiance(n, robust_sh_solve(y, diffuse)), sh_irradiance(n, _plain(y, diffuse))
    assert np.abs(a - b).mean() / np.abs(b).mean() < 0.03
