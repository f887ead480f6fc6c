"""dlib's CNN face detector in a helper process.

dlib's CNN detector holds Python's GIL for its whole run (0.1-1 s a frame on a laptop
CPU; measured: a thread running it stops every other thread of the program, the studio's
GUI included, for that long). In its own process it costs the caller nothing but the
wait. The protocol on stdin/stdout is raw bytes, no pickles: a request is a 12-byte
header (height, width, 0 as little-endian uint32) and the grey image (uint8, row-major);
the reply is a uint32 count and that many rows of 5 float64 (left, top, right, bottom
inclusive, confidence). A request with height 0 ends the process.

    python -m core.tracking.cnn_server MODEL_PATH      (started by CnnDetector)
"""
from __future__ import annotations

import struct
import subprocess
import sys
import threading

import numpy as np

HEADER = struct.Struct("<III")
COUNT = struct.Struct("<I")


def read_exact(stream, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def serve(model_path: str) -> int:
    import dlib

    cnn = dlib.cnn_face_detection_model_v1(model_path)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            h, w, _ = HEADER.unpack(read_exact(inp, HEADER.size))
        except EOFError:
            return 0
        if h == 0:
            return 0
        img = np.frombuffer(read_exact(inp, h * w), dtype=np.uint8).reshape(h, w)
        rows = [(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom(), d.confidence) for d in cnn(img, 0)]
        out.write(COUNT.pack(len(rows)) + np.asarray(rows, dtype="<f8").reshape(-1, 5).tobytes())
        out.flush()


class CnnDetector:
    """Callable like dlib's detector on a grey uint8 image with upsample 0, returning
    (N, 5) rows (left, top, right, bottom, confidence). With `in_process` it runs in the
    helper process (started on the first call, about a second), else inline, holding the
    GIL; inline too where the helper cannot be started or dies."""

    def __init__(self, model_path: str, in_process: bool = True):
        self.model_path = str(model_path)
        self.in_process = in_process and not getattr(sys, "frozen", False)
        self._lock = threading.Lock()
        self._proc = None
        self._inline = None

    def _start(self):
        self.in_process = False   # one attempt
        try:
            self._proc = subprocess.Popen([sys.executable, "-m", "core.tracking.cnn_server", self.model_path],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                          cwd=package_root())
        except OSError:
            self._proc = None

    def __call__(self, gray: np.ndarray) -> np.ndarray:
        img = np.ascontiguousarray(gray, dtype=np.uint8)
        with self._lock:
            if self.in_process:
                self._start()
            if self._proc is not None:
                try:
                    self._proc.stdin.write(HEADER.pack(img.shape[0], img.shape[1], 0) + img.tobytes())
                    self._proc.stdin.flush()
                    (n,) = COUNT.unpack(read_exact(self._proc.stdout, COUNT.size))
                    return np.frombuffer(read_exact(self._proc.stdout, n * 40), dtype="<f8").reshape(n, 5)
                except (OSError, EOFError, ValueError):
                    self.close()   # the helper died: carry on inline
            if self._inline is None:
                import dlib

                self._inline = dlib.cnn_face_detection_model_v1(self.model_path)
            rows = [(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom(), d.confidence)
                    for d in self._inline(img, 0)]
            return np.asarray(rows, dtype=np.float64).reshape(-1, 5)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.write(HEADER.pack(0, 0, 0))
            proc.stdin.close()
            proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            proc.kill()
            proc.wait()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def package_root() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[2])


if __name__ == "__main__":
    raise SystemExit(serve(sys.argv[1]))
