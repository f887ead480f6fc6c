"""Identity control space: a latent vector plus the model's prior over latents.

The prior is a Gaussian (mean + a factor `basis` with covariance basis @ basis.T). For an
auto-decoded model it is fitted to the learned codes; for a GAN it is the standard
normal. Truncation pulls samples towards the mean (the usual quality/diversity knob).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Identity:
    latent: np.ndarray
    seed: int | None = None  # provenance only: the latent is the identity
    truncation: float | None = None
    name: str = ""

    def __post_init__(self):
        z = np.asarray(self.latent, dtype=np.float64).reshape(-1)
        if z.size == 0 or not np.all(np.isfinite(z)):
            raise ValueError("identity latent must be a non-empty finite vector")
        object.__setattr__(self, "latent", z)
        # checked here, not when saving: a state that opens must also save
        if self.seed is not None:
            if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
                raise ValueError(f"identity seed must be an integer, got {self.seed!r}")
            object.__setattr__(self, "seed", int(self.seed))
        if self.truncation is not None:
            if isinstance(self.truncation, bool) or not isinstance(self.truncation, (int, float, np.floating)) \
                    or not np.isfinite(self.truncation):
                raise ValueError(f"identity truncation must be a finite number, got {self.truncation!r}")
            object.__setattr__(self, "truncation", float(self.truncation))
        if not isinstance(self.name, str):
            raise ValueError(f"identity name must be text, got {self.name!r}")

    def lerp(self, other: "Identity", t: float) -> "Identity":
        if other.latent.shape != self.latent.shape:
            raise ValueError("cannot interpolate identities of different latent sizes")
        return Identity((1.0 - t) * self.latent + t * other.latent, name=f"mix({self.name},{other.name},{t:.2f})")

    def key(self) -> bytes:
        return self.latent.astype(np.float32).tobytes()

    def to_json(self) -> dict:
        out = {"latent": [float(v) for v in self.latent]}
        if self.seed is not None:
            out["seed"] = int(self.seed)
        if self.truncation is not None:
            out["truncation"] = float(self.truncation)
        if self.name:
            out["name"] = self.name
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Identity":
        if not isinstance(data, dict) or "latent" not in data:
            raise ValueError('identity needs a "latent" list')
        return cls(np.asarray(data["latent"], dtype=np.float64), data.get("seed"), data.get("truncation"), data.get("name", ""))

    def __eq__(self, other):
        return isinstance(other, Identity) and np.array_equal(self.latent, other.latent)

    def __hash__(self):
        return hash(self.key())


@dataclass(frozen=True)
class IdentityPrior:
    mean: np.ndarray
    basis: np.ndarray  # (dim, k): latent = mean + basis @ z, z ~ N(0, I)

    def __post_init__(self):
        mean = np.asarray(self.mean, dtype=np.float64).reshape(-1)
        basis = np.asarray(self.basis, dtype=np.float64)
        if basis.ndim != 2 or basis.shape[0] != mean.size:
            raise ValueError(f"identity prior basis must be ({mean.size}, k), got {basis.shape}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "basis", basis)

    @property
    def dim(self) -> int:
        return self.mean.size

    @classmethod
    def standard_normal(cls, dim: int) -> "IdentityPrior":
        return cls(np.zeros(dim), np.eye(dim))

    @classmethod
    def fit(cls, codes: np.ndarray, max_components: int | None = None) -> "IdentityPrior":
        """Gaussian prior from a set of latents (n, dim) through PCA."""
        codes = np.asarray(codes, dtype=np.float64)
        mean = codes.mean(0)
        centred = codes - mean
        n = max(codes.shape[0] - 1, 1)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        k = len(s) if max_components is None else min(max_components, len(s))
        basis = vt[:k].T * (s[:k] / np.sqrt(n))
        return cls(mean, basis)

    def sample(self, seed: int, truncation: float = 1.0) -> Identity:
        z = np.random.default_rng(int(seed)).standard_normal(self.basis.shape[1])
        return Identity(self.mean + truncation * (self.basis @ z), seed=int(seed), truncation=float(truncation))

    def mean_identity(self) -> Identity:
        return Identity(self.mean.copy(), name="mean")

    def truncate(self, identity: Identity, truncation: float) -> Identity:
        return Identity(self.mean + truncation * (identity.latent - self.mean), identity.seed, truncation, identity.name)

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "basis": self.basis.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> "IdentityPrior":
        return cls(np.asarray(data["mean"]), np.asarray(data["basis"]))
