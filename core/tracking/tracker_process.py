"""The face tracker in a helper process, for live use beside rendering.

Why: dlib's landmark and HOG calls hold Python's GIL while they run, and the tracker's own
Python (pose, smoothing, the small regressors) needs it too, so a tracker thread beside
the render thread slows every render: measured here (2 cores, 1 torch thread), a preview
render with a new expression took 38.6 ms alone, 49.9 ms beside a tracker thread working
on 25 frames a second, and 41.0 ms beside the same tracker in another process. Live
reenactment runs the tracker here, so the studio's render, GUI and capture threads only
wait for its answers.

Protocol on the child's stdin/stdout, raw bytes and JSON, no pickles: a request is a
header (op, height, width, channels as uint32, time as float64, payload length as uint32)
then the payload: the frame's bytes (uint8, row-major) for PROCESS, UTF-8 JSON for
SET_SMOOTHING, nothing otherwise. Every request gets one reply: a uint32 length and that
much UTF-8 JSON. The first reply, unasked, says the child is ready (or why it is not).

    python -m core.tracking.tracker_process '{"names": [...], "expression_source": "auto"}'
"""
from __future__ import annotations

import json
import struct
import subprocess
import sys
import threading
from dataclasses import asdict

import numpy as np

from core.expression import Expression
from core.tracking.cnn_server import package_root, read_exact
from core.tracking.landmarks import FaceBox
from core.tracking.pose import HeadPose
from core.tracking.smoothing import OneEuroSettings
from core.tracking.tracker import TrackedFrame

REQUEST = struct.Struct("<IIIIdI")
LENGTH = struct.Struct("<I")
PROCESS, RESET, CALIBRATE, CLEAR_CALIBRATION, SET_SMOOTHING, QUIT = range(6)
# the largest frame the child accepts (8K RGB): a corrupt header must not allocate gigabytes
MAX_FRAME_BYTES = 7680 * 4320 * 3


def _send_json(stream, obj) -> None:
    data = json.dumps(obj).encode()
    stream.write(LENGTH.pack(len(data)) + data)
    stream.flush()


def _read_json(stream):
    (n,) = LENGTH.unpack(read_exact(stream, LENGTH.size))
    return json.loads(read_exact(stream, n))


def frame_to_json(r: TrackedFrame) -> dict:
    def pose(p):
        return None if p is None else [p.yaw, p.pitch, p.roll]

    def values(e):
        return None if e is None else [float(v) for v in e.values]

    return {"time": r.time, "face": r.face, "confidence": r.confidence, "pose": pose(r.pose),
            "expression": values(r.expression), "landmarks": None if r.landmarks is None else r.landmarks.tolist(),
            "box": None if r.box is None else asdict(r.box), "raw_pose": pose(r.raw_pose),
            "raw_expression": values(r.raw_expression), "timings_ms": r.timings_ms, "status": r.status}


def frame_from_json(d: dict, names) -> TrackedFrame:
    def pose(p):
        return None if p is None else HeadPose(*p)

    def expression(v):
        return None if v is None else Expression(names, np.asarray(v, dtype=np.float64))

    return TrackedFrame(d["time"], d["face"], d["confidence"], pose(d["pose"]), expression(d["expression"]),
                        None if d["landmarks"] is None else np.asarray(d["landmarks"], dtype=np.float64),
                        None if d["box"] is None else FaceBox(**d["box"]), pose(d["raw_pose"]),
                        expression(d["raw_expression"]), d["timings_ms"], d["status"])


def serve(config: dict) -> int:
    out = sys.stdout.buffer
    sys.stdout = sys.stderr   # nothing printed by a library may corrupt the replies
    try:
        import torch

        torch.set_num_threads(1)   # the parent renders on the other core
        from core.tracking.landmarks import DlibFaceLandmarks
        from core.tracking.tracker import FaceTracker

        # the CNN detector inline: in this process it blocks nobody but the tracker
        tracker = FaceTracker(names=config["names"], faces=DlibFaceLandmarks(cnn_process=False),
                              expression_source=config.get("expression_source", "auto"))
    except Exception as e:  # noqa: BLE001 - told to the parent, which runs the tracker itself
        _send_json(out, {"ready": False, "error": str(e).splitlines()[0] if str(e) else type(e).__name__})
        return 1
    _send_json(out, {"ready": True, "expression_source": tracker.expression_source})
    inp = sys.stdin.buffer
    try:
        while True:
            try:
                op, h, w, c, t, n = REQUEST.unpack(read_exact(inp, REQUEST.size))
            except EOFError:
                return 0
            if op == QUIT:
                return 0
            if n > MAX_FRAME_BYTES:
                return 2
            payload = read_exact(inp, n)
            if op == PROCESS:
                frame = np.frombuffer(payload, dtype=np.uint8).reshape((h, w, c) if c > 1 else (h, w))
                _send_json(out, frame_to_json(tracker.process(frame, t)))
            elif op == RESET:
                tracker.reset()
                _send_json(out, True)
            elif op == CALIBRATE:
                _send_json(out, tracker.calibrate())
            elif op == CLEAR_CALIBRATION:
                tracker.clear_calibration()
                _send_json(out, True)
            elif op == SET_SMOOTHING:
                s = json.loads(payload)
                tracker.set_smoothing(OneEuroSettings(**s["pose"]), OneEuroSettings(**s["expression"]))
                _send_json(out, True)
            else:
                return 2
    finally:
        tracker.close()


class TrackerProcess:
    """FaceTracker's live interface (process, reset, calibrate, clear_calibration,
    set_smoothing, close, names, expression_source), run in a helper process. Where the
    helper cannot start (a frozen bundle, no interpreter, an import failing there) or
    dies, the same tracker runs in this process instead and `in_process` says so."""

    def __init__(self, names, expression_source: str = "auto", start_timeout_s: float = 60.0):
        self.names = tuple(names)
        self._source = expression_source
        self._lock = threading.Lock()
        self._proc = None
        self._local = None
        self.expression_source = None
        self.helper_error = None
        if not getattr(sys, "frozen", False):
            self._start(start_timeout_s)
        if self._proc is None:
            self._run_here()

    @property
    def in_process(self) -> bool:
        return self._local is not None

    def _start(self, timeout_s: float) -> None:
        config = json.dumps({"names": list(self.names), "expression_source": self._source})
        try:
            self._proc = subprocess.Popen([sys.executable, "-m", "core.tracking.tracker_process", config],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                          cwd=package_root())
        except OSError as e:
            self.helper_error = str(e)
            self._proc = None
            return
        hello = {}
        timer = threading.Timer(timeout_s, self._proc.kill)   # a child that never answers
        timer.start()
        try:
            hello = _read_json(self._proc.stdout)
        except (OSError, EOFError, ValueError):
            hello = {"ready": False, "error": "the tracker process ended before it was ready"}
        finally:
            timer.cancel()
        if not hello.get("ready"):
            self.helper_error = hello.get("error")
            self._stop_helper()   # the tracker starts here instead (an error it has, it says here)
            return
        self.expression_source = hello["expression_source"]

    def _run_here(self) -> None:
        from core.tracking.landmarks import DlibFaceLandmarks
        from core.tracking.tracker import FaceTracker

        self._local = FaceTracker(names=self.names, faces=DlibFaceLandmarks(cnn_process=True),
                                  expression_source=self._source)
        self.expression_source = self._local.expression_source

    def _call(self, op: int, payload: bytes = b"", shape=(0, 0, 0), t: float = 0.0):
        """One request to the helper; None when it has gone (the caller goes local)."""
        proc = self._proc
        if proc is None:
            return None
        try:
            proc.stdin.write(REQUEST.pack(op, *shape, t, len(payload)) + payload)
            proc.stdin.flush()
            return _read_json(proc.stdout)
        except (OSError, EOFError, ValueError) as e:
            self.helper_error = f"the tracker process stopped ({e or type(e).__name__})"
            self._stop_helper()
            return None

    def _local_tracker(self):
        if self._local is None:
            self._run_here()   # the helper died: carry on here (the face is found afresh)
        return self._local

    def process(self, frame: np.ndarray, time: float) -> TrackedFrame:
        with self._lock:
            if self._proc is not None:
                img = np.ascontiguousarray(frame, dtype=np.uint8)
                c = img.shape[2] if img.ndim == 3 else 1
                reply = self._call(PROCESS, img.tobytes(), (img.shape[0], img.shape[1], c), float(time))
                if reply is not None:
                    return frame_from_json(reply, self.names)
            return self._local_tracker().process(frame, time)

    def reset(self) -> None:
        with self._lock:
            if self._call(RESET) is None:
                self._local_tracker().reset()

    def calibrate(self) -> bool:
        with self._lock:
            reply = self._call(CALIBRATE)
            return bool(reply) if reply is not None else self._local_tracker().calibrate()

    def clear_calibration(self) -> None:
        with self._lock:
            if self._call(CLEAR_CALIBRATION) is None:
                self._local_tracker().clear_calibration()

    def set_smoothing(self, pose: OneEuroSettings, expression: OneEuroSettings) -> None:
        with self._lock:
            payload = json.dumps({"pose": asdict(pose), "expression": asdict(expression)}).encode()
            if self._call(SET_SMOOTHING, payload) is None:
                self._local_tracker().set_smoothing(pose, expression)

    def _stop_helper(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.poll() is None:
                proc.stdin.write(REQUEST.pack(QUIT, 0, 0, 0, 0.0, 0))
                proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    def close(self) -> None:
        with self._lock:
            self._stop_helper()
            if self._local is not None:
                self._local.close()
                self._local = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


if __name__ == "__main__":
    raise SystemExit(serve(json.loads(sys.argv[1])))
