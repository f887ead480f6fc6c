"""ModelConfig: every architecture size of the neural head model, stored with its weights."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from core.expression import DEFAULT_EXPRESSION_NAMES, validate_names


# Keys older checkpoints carry that no longer mean anything; read and dropped.
# coarse_samples / importance_samples (until 2026-11-23): written into every checkpoint,
# never read (the sampling plan has always come from the renderer's quality levels).
RETIRED_KEYS = frozenset({"coarse_samples", "importance_samples"})

# Upper bounds on the sizes (far above any model this project trains; a 4096-channel layer
# is already ~600 MB): a config from a file cannot make the constructor allocate hundreds of GB.
_LIMITS = {"latent_dim": 4096, "w_dim": 4096, "mapping_layers": 64, "expression_dim": 4096, "channels": 4096,
           "plane_resolution": 1024, "plane_channels": 1024, "decoder_hidden": 4096, "shading_features": 1024,
           "shading_hidden": 4096, "superres_factor": 16, "superres_channels": 1024, "superres_layers": 64,
           "superres_preview_side": 1024,
           "expression_blend_hidden": 4096, "density_grid_resolution": 512, "expression_regions": 256}

# Integer settings where 0 means "none" rather than a size.
_ZERO_MEANS_NONE = frozenset({"superres_preview_side", "expression_regions"})


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
    # The super-resolution also reads the expression weights (v2.4, FiLM on its hidden layers):
    # an eyelid is finer than the neural resolution, so the 2D network draws it where the
    # G-buffer says the eye is.
    superres_expression: bool = False
    # A second super-resolution (the same shape, its own weights) for G-buffers this many
    # neural pixels wide or narrower; 0: one network for every size. The studio previews a
    # drag at half the neural resolution (32): v2.4's network, trained at 64, drew streaks
    # beside the eyes there, and one network trained on both sizes lost 0.7 dB at 64
    # (head model v2.5, assets/MODEL_CARD.md).
    superres_preview_side: int = 0
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
    # Each name's effect confined to a soft region (core/model/regions.py): a volume of this
    # many voxels a side over [-expression_region_box, expression_region_box]^3 per name,
    # from where the synthetic engine's geometry moves; 0: none (every name acts anywhere).
    expression_regions: int = 0
    expression_region_box: float = 0.4
    density_grid_resolution: int = 32
    density_bias: float = -1.0       # raw density offset: empty space at initialisation

    def __post_init__(self):
        object.__setattr__(self, "expression_names", validate_names(self.expression_names))
        channels = self.synthesis_channels
        if not isinstance(channels, (tuple, list)) or not all(
                isinstance(c, int) and not isinstance(c, bool) for c in channels):
            raise ValueError(f"model config synthesis_channels must be a list of integers, got {channels!r}")
        object.__setattr__(self, "synthesis_channels", tuple(channels))
        for f in fields(self):
            v, default = getattr(self, f.name), f.default
            # types as the defaults' (a checkpoint's JSON may hold anything), checked before
            # any size reaches an allocation
            if isinstance(default, bool) and not isinstance(v, bool):
                raise ValueError(f"model config {f.name} must be true or false, got {v!r}")
            if isinstance(default, int) and not isinstance(default, bool) and (
                    isinstance(v, bool) or not isinstance(v, int)):
                raise ValueError(f"model config {f.name} must be an integer, got {v!r}")
            if isinstance(default, float) and (isinstance(v, bool) or not isinstance(v, (int, float))
                                               or not math.isfinite(v)):
                raise ValueError(f"model config {f.name} must be a finite number, got {v!r}")
            if isinstance(v, int) and not isinstance(v, bool) and v <= 0 and not (v == 0 and f.name in _ZERO_MEANS_NONE):
                raise ValueError(f"model config {f.name} must be positive, got {v}")
            limit = _LIMITS.get(f.name)
            if limit is not None and v > limit:
                raise ValueError(f"model config {f.name} {v} is over {limit} (sizes are checked before allocating)")
        if max(channels) > _LIMITS["channels"]:
            raise ValueError(f"model config synthesis_channels {max(channels)} is over {_LIMITS['channels']} "
                             "(sizes are checked before allocating)")
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
