"""Held-out synthetic heads (engine seed 2, never trained on) as photos, rendered once
per session."""
import pytest


@pytest.fixture(scope="session")
def held_out_photos():
    from training.fit_eval import HeldOutHeads

    heads = HeldOutHeads(256)
    photos = [heads.head(i) for i in range(2)]
    yield heads, photos
    heads.release()
