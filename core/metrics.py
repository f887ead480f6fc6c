"""Image metrics shared by evaluation and benchmarks (one PSNR for the whole project)."""
from __future__ import annotations

import math

import numpy as np


def psnr(a, b) -> float:
    """Peak signal-to-noise ratio in dB of two images in [0, 1] (numpy arrays or tensors);
    99 for identical images."""
    a = a.detach().cpu().double().numpy() if hasattr(a, "detach") else np.asarray(a, np.float64)
    b = b.detach().cpu().double().numpy() if hasattr(b, "detach") else np.asarray(b, np.float64)
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse == 0 else 10.0 * math.log10(1.0 / mse)
