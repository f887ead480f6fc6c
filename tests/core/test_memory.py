"""The studio hands freed heap memory back when it goes still (the soak bench's fix for
+34% RSS growth over 4 minutes of slider drags)."""
import sys

import pytest
import torch

from core import memory
from core.memory import rss_mb


needs_glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or not memory._malloc_trim(),
                                 reason="malloc_trim is glibc's (Linux); elsewhere release_free_memory does nothing")


@needs_glibc
def test_holes_left_by_freed_tensors_go_back_to_the_os():
    # what the engine's identity cache does: a 28 MB block freed raises glibc's mmap
    # threshold, so later blocks of a few MB come from the heap; small long-lived ones
    # between them keep the freed holes resident
    big = torch.ones(7_000_000)
    del big
    blocks, pins = [], []
    for _ in range(40):
        blocks.append(torch.ones(1_000_000))    # 4 MB
        pins.append(torch.ones(4096))   # 16 KB: from the top of the heap, after its block
    del blocks
    before = rss_mb()
    assert memory.release_free_memory(min_interval_s=0.0)
    after = rss_mb()
    assert before - after > 100, f"RSS {before:.0f} -> {after:.0f} MB: the holes stayed"
    del pins


@needs_glibc
def test_release_is_rate_limited():
    assert memory.release_free_memory(min_interval_s=0.0)
    assert not memory.release_free_memory(min_interval_s=60.0)
