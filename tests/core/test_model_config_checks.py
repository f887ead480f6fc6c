"""Model configs read from a checkpoint's metadata are checked before anything is allocated
(bad-input campaign, docs/bad-inputs.md: a string size and channels of 10^6 ended in
tracebacks from deep inside the model's constructor)."""
import math

import pytest

from core.model.config import ModelConfig


@pytest.mark.parametrize("key, value", [
    ("latent_dim", "128"), ("w_dim", 2.5), ("mapping_layers", True), ("expression_blend", 1),
    ("expression_blend_gain", "16"), ("density_bias", math.nan), ("expression_blend_gain", math.inf),
    ("synthesis_channels", ["a", 1, 1, 1, 1]),
])
def test_wrong_types_are_one_value_error_naming_the_key(key, value):
    with pytest.raises(ValueError, match=key):
        ModelConfig.from_json({key: value})


@pytest.mark.parametrize("key, value", [
    ("synthesis_channels", [10 ** 6] * 5), ("w_dim", 10 ** 7), ("latent_dim", 10 ** 9),
    ("mapping_layers", 10 ** 5), ("superres_factor", 1024), ("density_grid_resolution", 10 ** 5),
])
def test_sizes_that_would_allocate_gigabytes_are_refused_before_allocating(key, value):
    with pytest.raises(ValueError, match=key):
        ModelConfig.from_json({key: value})


def test_the_default_and_the_bundled_configs_still_pass():
    from core.checkpoint import DEFAULT_MODEL
    import json
    import struct

    ModelConfig()
    raw = DEFAULT_MODEL.read_bytes()
    header = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
    ModelConfig.from_json(json.loads(header["__metadata__"]["config"]))
