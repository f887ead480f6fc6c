"""ModelConfig: every architecture size of the neural head model, stored with its weights."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from core.expression import DEFAULT_EXPRESSION_NAMES, validate_names


# Keys older checkpoints carry that no longer mean anything; read and dropped.
# coarse_samples / importance_samples (until 2026-11-23): written into every checkpoint,
# never read (the sampling plan has always come from the renderer's quality levels).
RETIRED_KEYS = frozenset({"coarse_samples", "importance_samples"})


@dataclass(frozen=True)
class ModelConfig:
    latent_dim: int = 128            # identity latent (auto-decoded code or GAN z)
    w_dim: int = 256                 # mapped style vector
    mapping_layers: int = 4
    expression_names: tuple = DEFAULT_EXPRESSION_NAMES
    expression_dim: int = 64         # embedded expression style
    synthesis_channels: tuple = (256, 256, 192, 128, 96)  # 4, 8, 16, 32, 64 px
    plane_resolution: int = 64
    plane_channels: int = 32
    decoder_hidden: int = 64
    shading_features: int = 8        # per-sample features the lighting residual reads
    shading_hidden: int = 32
    superres_factor: int = 2
    superres_channels: int = 32
    superres_layers: int = 1         # hidden 3x3 conv layers of the super-resolution network
    # Linear expression blend in tri-plane space (v2): planes += sum_k e_k * delta_k(identity),
    # one identity-dependent delta plane per expression name, cached per identity, so every
    # name has its own learnable effect and an expression change is a weighted sum.
    expression_blend: bool = False
    expression_blend_hidden: int = 64
    # Output scale of the deltas: tri-plane features are large (|mean| ~20 in a trained
    # model), so without a gain the deltas start so small against them that Adam takes
    # thousands of steps to give an expression any visible effect (measured: 0% of pixels
    # moved by a smile after 1,400 steps at gain 1).
    expression_blend_gain: float = 16.0
    density_grid_resolution: int = 32
    density_bias: float = -1.0       # raw density offset: empty space at initialisation

    def __post_init__(self):
        object.__setattr__(self, "expression_names", validate_names(self.expression_names))
        object.__setattr__(self, "synthesis_channels", tuple(int(c) for c in self.synthesis_channels))
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, int) and not isinstance(v, bool) and v <= 0:
                raise ValueError(f"model config {f.name} must be positive, got {v}")
        if 4 * 2 ** (len(self.synthesis_channels) - 1) != self.plane_resolution:
            raise ValueError(
                f"model config: {len(self.synthesis_channels)} synthesis stages from 4 px give "
                f"{4 * 2 ** (len(self.synthesis_channels) - 1)} px, not plane_resolution {self.plane_resolution}"
            )

    @property
    def num_expressions(self) -> int:
        return len(self.expression_names)

    def to_json(self) -> dict:
        d = asdict(self)
        d["expression_names"] = list(self.expression_names)
        d["synthesis_channels"] = list(self.synthesis_channels)
        return d

    @classmethod
    def from_json(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k not in RETIRED_KEYS}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config key(s): {', '.join(unknown)}")
        kwargs = dict(data)
        for key in ("expression_names", "synthesis_channels"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)
