"""Engine renders of held-out synthetic heads, shared by the tracking tests (rendered
once per session: a few hundred milliseconds each)."""
import numpy as np
import pytest

RES = 256
HEAD_SEED = 987_654  # far from the tracker model's training heads (500000...)


@pytest.fixture(scope="session")
def render_head():
    from core.lighting import load_presets
    from core.state import OrbitPose
    from training.synth.head_mesh import HeadBuilder
    from training.synth.identity import HeadIdentity
    from training.synth.renderer import HeadRenderer, expression_transfer

    renderer = HeadRenderer(RES)
    builder = HeadBuilder(HeadIdentity.sample(HEAD_SEED))
    neutral = builder.build()
    transfer = renderer.visibility_transfer(neutral)
    light = load_presets()["studio"]
    cache = {}

    def render(yaw=0.0, pitch=0.0, roll=0.0, expression=None):
        key = (yaw, pitch, roll, None if expression is None else expression.key())
        if key not in cache:
            geo = neutral if expression is None else builder.build(expression)
            frame = renderer.render(geo, OrbitPose(yaw, pitch, roll).to_camera(), light, None,
                                    expression_transfer(transfer, geo))
            cache[key] = (np.clip(frame.rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
        return cache[key]

    yield render
    renderer.release()
