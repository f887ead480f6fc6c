"""The studio benchmark's stall watcher names what the GUI thread did in a long gap."""
import time

from bench.stall import StallWatcher


def _beat_for(beats, seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        beats.append(time.perf_counter())
        time.sleep(0.005)


def _slow_step():
    time.sleep(0.15)


def test_a_long_gap_comes_with_the_main_threads_stack():
    beats = []
    start = time.perf_counter()
    with StallWatcher(beats) as watcher:
        _beat_for(beats, 0.1)
        _slow_step()
        _beat_for(beats, 0.1)
    longest = max(watcher.report(start, time.perf_counter()), key=lambda s: s["ms"])
    assert 140 <= longest["ms"] < 1000
    assert "_slow_step" in longest["stacks"][0]["stack"]


def test_short_gaps_and_gaps_outside_the_window_are_not_reported():
    beats = []
    start = time.perf_counter()
    with StallWatcher(beats) as watcher:
        _beat_for(beats, 0.1)
        time.sleep(0.02)
        middle = time.perf_counter()   # the long gap starts at the next stretch's last beat
        _beat_for(beats, 0.05)
        _slow_step()
        _beat_for(beats, 0.05)
    assert watcher.report(start, time.perf_counter(), min_ms=100) != []
    assert watcher.report(start, middle, min_ms=100) == []
