"""A --state/--avatar whose identity does not fit the model: the one line names the file
(bad-input campaign: "identity latent has 5 values, this model needs 128", no file named)."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

from cli.common import state_from_args
from core.identity import Identity
from core.state import AvatarState


def _args(**kw):
    base = dict(state=None, avatar=None, seed=None, truncation=0.7, yaw=None, pitch=None, fov=None, light=None,
                expr=[], res=None, quality=None, model="m.safetensors")
    base.update(kw)
    return SimpleNamespace(**base)


@pytest.mark.parametrize("flag", ["state", "avatar"])
def test_a_state_whose_identity_does_not_fit_names_the_file(tmp_path, flag):
    engine = SimpleNamespace(cfg=SimpleNamespace(latent_dim=128, expression_names=()),
                             default_state=lambda: AvatarState(Identity(np.zeros(128), 0, 0.7, "d")))
    path = tmp_path / "five.json"
    path.write_text(json.dumps(AvatarState(Identity(np.zeros(5), 1, 0.7, "x")).to_json()))
    with pytest.raises(ValueError, match="five.json: its identity has 5 latent values; this model needs 128"):
        state_from_args(_args(**{flag: str(path)}), engine)
