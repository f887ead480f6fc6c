"""Where the GUI thread is when it stalls: a watcher thread looks at the heartbeat the
benchmark's GUI-thread timer keeps, and while it is late takes the GUI thread's Python
stack, so a long gap comes with what the GUI thread was doing in it.

A stall spent in C code that holds the GIL shows no stack (the watcher cannot run until
it ends); one spent in Python, or in C that lets the GIL go, does.

The stack is read with faulthandler, which writes it out without taking a reference to
any frame: a frame held by this thread would keep the GUI thread's locals (a QPainter in
a paintEvent) alive past their function and let them be destroyed here, off the GUI
thread (a first version that held frames crashed the studio that way).
"""
from __future__ import annotations

import faulthandler
import tempfile
import threading
import time


class StallWatcher:
    def __init__(self, beats: list, late_s: float = 0.04, poll_s: float = 0.005, depth: int = 10):
        self.beats, self.late_s, self.poll_s, self.depth = beats, late_s, poll_s, depth
        self.main_id = threading.main_thread().ident
        self.stalls: list[dict] = []   # {"start", "stacks": {stack text: samples}}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="stall-watcher", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def _watch(self):
        current = None
        while not self._stop.wait(self.poll_s):
            last = self.beats[-1] if self.beats else None
            if last is None or time.perf_counter() - last < self.late_s:
                current = None
                continue
            if current is None or current["start"] != last:
                current = {"start": last, "stacks": {}}
                self.stalls.append(current)
            text = self._main_stack()
            if text:
                current["stacks"][text] = current["stacks"].get(text, 0) + 1

    def _main_stack(self) -> str:
        """The GUI thread's innermost frames as 'file:line function <- ...'."""
        with tempfile.TemporaryFile("w+") as f:
            faulthandler.dump_traceback(f, all_threads=True)
            f.seek(0)
            dump = f.read()
        tag = f"0x{self.main_id:016x}"
        for block in dump.split("\n\n"):
            lines = block.strip().splitlines()
            if lines and tag in lines[0]:
                frames = []
                for line in lines[1:1 + self.depth]:
                    # '  File "/x/y/z.py", line 12 in name'
                    line = line.strip()
                    if line.startswith("File "):
                        path, _, rest = line[6:].partition('", line ')
                        number, _, name = rest.partition(" in ")
                        frames.append(f"{path.rsplit('/', 1)[-1]}:{number} {name}")
                return " <- ".join(frames)
        return ""

    def report(self, gaps_from: float, gaps_to: float, min_ms: float = 50.0) -> list[dict]:
        """Stalls that began between `gaps_from` and `gaps_to` and lasted at least `min_ms`, each with
        its length (from the beats) and the GUI thread's stacks seen in it, most seen first."""
        beats = list(self.beats)
        out = []
        for stall in self.stalls:
            if not gaps_from <= stall["start"] < gaps_to:
                continue
            later = [b for b in beats if b > stall["start"]]
            end = later[0] if later else time.perf_counter()
            ms = 1e3 * (end - stall["start"])
            if ms >= min_ms:
                stacks = sorted(stall["stacks"].items(), key=lambda kv: -kv[1])
                out.append({"ms": round(ms, 1), "stacks": [{"samples": n, "stack": s} for s, n in stacks[:3]]})
        return out
