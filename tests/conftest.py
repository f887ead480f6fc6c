import os

import pytest
import torch

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

TINY = dict(latent_dim=16, w_dim=32, mapping_layers=2, expression_dim=8, synthesis_channels=(32, 32, 16),
            plane_resolution=16, plane_channels=8, decoder_hidden=16, shading_features=4, shading_hidden=8,
            superres_channels=8, density_grid_resolution=16)


@pytest.fixture
def tiny_config():
    from core.model.config import ModelConfig

    return ModelConfig(**TINY)


@pytest.fixture
def tiny_model(tiny_config):
    from core.model.head import NeuralHeadModel

    torch.manual_seed(0)
    model = NeuralHeadModel(tiny_config).eval()
    # give the lighting residual something to do, so relighting tests see it
    with torch.no_grad():
        for p in model.lighting_residual.parameters():
            p.normal_(0.0, 0.3)
    return model


@pytest.fixture
def tiny_checkpoint(tiny_model, tmp_path):
    from core.checkpoint import save_checkpoint

    path = tmp_path / "tiny.safetensors"
    save_checkpoint(tiny_model, path, {"note": "random tiny model for tests"})
    return path
