"""Rendering off the GUI thread: the latest request wins, stale ones are dropped.

The GUI asks for a frame at `preview` quality while something moves and schedules a
`refined` frame once things have been still for a moment. The worker thread renders one
request at a time; a request that arrives while it is busy replaces any request still
waiting, so the view never falls behind the sliders.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import torch
from PySide6.QtCore import QObject, QTimer, Signal

from core.memory import release_free_memory
from core.passes import depth_preview, pass_image
from core.state import AvatarState


class RenderScheduler(QObject):
    frame_ready = Signal(object, object)   # (uint8 image HxWx3, info dict)
    render_failed = Signal(str)

    REFINE_DELAY_MS = 250

    def __init__(self, engine, parent=None):
        super().__init__(parent)
        self.engine = engine
        self._cond = threading.Condition()
        self._pending: tuple[AvatarState, str] | None = None
        self._stop = False
        self._busy = False
        self._generation = 0
        self._thread = threading.Thread(target=self._run, name="render-worker", daemon=True)
        self._thread.start()
        self._refine_timer = QTimer(self)
        self._refine_timer.setSingleShot(True)
        self._refine_timer.timeout.connect(self._refine)
        self._last_state: AvatarState | None = None
        # torch threads per quality: a preview leaves one core to the GUI thread and the
        # display server, which on two cores run beside every drag frame (with both cores
        # the preview's parallel loops wait on the busy one: docs/benchmarks.md); the
        # refined frame comes when the GUI is idle and takes them all
        every = torch.get_num_threads()
        self._threads = {"preview": max(1, every - 1), "refined": every}

    def set_engine(self, engine):
        with self._cond:
            self.engine = engine
            self._pending = None

    def request(self, state: AvatarState, interactive: bool):
        """Preview now if interactive (and refined after a pause), else refined now."""
        self._last_state = state
        self._submit(state, "preview" if interactive else "refined")
        if interactive:
            self._refine_timer.start(self.REFINE_DELAY_MS)
        else:
            self._refine_timer.stop()

    def _refine(self):
        if self._last_state is not None:
            self._submit(self._last_state, "refined")

    def _submit(self, state, quality):
        with self._cond:
            self._generation += 1
            self._pending = (state, quality, self._generation)
            self._cond.notify()

    def is_idle(self) -> bool:
        with self._cond:
            return self._pending is None and not self._busy

    def shutdown(self):
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _run(self):
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                state, quality, generation = self._pending
                self._pending = None
                self._busy = True
                engine = self.engine
            try:
                threads = self._threads.get(quality, self._threads["refined"])
                if torch.get_num_threads() != threads:
                    torch.set_num_threads(threads)
                t = time.perf_counter()
                result = engine.render(state, quality)
                ms = (time.perf_counter() - t) * 1e3
                frame = result.frame
                name = state.render.render_pass
                img = depth_preview(frame) if name == "depth" else pass_image(frame, name, state.render.background)
                info = {"quality": quality, "ms": ms, "timings": result.timings_ms, "relit_only": result.relit_only,
                        "state": state, "generation": generation}
                self.frame_ready.emit(np.ascontiguousarray(img), info)
            except Exception as e:  # a bad state must not kill the worker
                self.render_failed.emit(f"render failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
            finally:
                with self._cond:
                    self._busy = False
                    still = self._pending is None
            if still and quality == "refined":
                release_free_memory()  # the view has settled: hand back what the drag freed
