"""The face tracker: frames in, head pose (Camera space) and expression weights (the
model's ARKit names) out, steady when the head is still and following when it moves.

Per frame:
1. Find the face: a whole-frame detection only while no face is tracked (then the face
   overlapping where the last one was, else the largest); otherwise the box the last
   frame's landmarks predict, so a second face cannot steal the track.
2. Check the box still holds a face (the detector on a small crop around it, ~1 ms): its
   score is the confidence. The score it must reach is set by the face's own detection
   score (VERIFY_MARGIN below it, never above dlib's VERIFY_THRESHOLD): a face that HOG
   found only just (or only the CNN fallback found) keeps scoring low as it turns, while
   a clear webcam face (scores 1-3) is held to the stricter threshold. When HOG's score
   falls short, dlib's CNN detector is asked about the same crop (tens of ms; HOG is a
   frontal detector, and a head turned past ~30 degrees leaves it while still a face);
   once it has said yes, the next 4 frames are not verified again (only the dark check).
   A box too dark or too flat to hold a face is a miss. A few misses in a row and the
   face is lost.
3. 68 landmarks (dlib) -> head pose by PnP against the reference face (the template, or
   the user's calibrated neutral face) -> pose-normalised landmark offsets -> expression
   weights (FaceModel's regressor). Where MediaPipe is installed, the expression comes
   from its 478-point face mesh instead (core/tracking/mesh.py: a crop around the dlib
   landmarks; MeshExpressionModel's regressor), which sees lids, brows and lip corners
   that dlib's points barely follow; a frame where the mesh finds no face keeps the last
   mesh estimate.
4. One-Euro smoothing of pose and expression. While the face is lost the output holds the
   last good values, then eases back to the neutral pose and expression.
"""
from __future__ import annotations

import time as _time
from dataclasses import dataclass, field

import numpy as np

from core.camera import DEFAULT_FOCAL
from core.expression import DEFAULT_EXPRESSION_NAMES, Expression
from core.tracking.face_model import FaceModel
from core.tracking.landmarks import (
    VERIFY_THRESHOLD, BoxFromLandmarks, DlibFaceLandmarks, FaceBox, landmark_frame, to_gray,
)
from core.tracking.mesh import load_expression_mesh
from core.tracking.pose import HeadPose, PoseFit
from core.tracking.smoothing import OneEuroFilter, OneEuroSettings

# a detector score at which the confidence reaches 1 (dlib's scores for clear faces are ~1-3)
CONFIDENT_SCORE = 1.0
# verification: the score a tracked face must keep is its detection score less this margin,
# at most VERIFY_THRESHOLD and at least VERIFY_FLOOR (non-face crops of skimage's photos
# score up to about -0.6, pixel noise -0.7; a turned engine head that HOG found at 0.0
# scores down to -0.97)
VERIFY_MARGIN = 1.0
VERIFY_FLOOR = -1.0
# after the CNN has confirmed a face HOG no longer sees, the next frames' boxes (carried by
# the landmarks) are trusted without asking again: the CNN costs tens of milliseconds
CNN_TRUST_FRAMES = 4
# the face-mesh crop follows the landmarks' centre and size through this filter (pixels):
# framed from each frame's own landmarks, the crop jitters with them and the mesh's
# expression reading jitters twice as much (measured on a still head with sensor noise)
MESH_ANCHOR_SMOOTHING = OneEuroSettings(min_cutoff=0.5, beta=0.05, d_cutoff=1.0)
# a box whose grey levels (0-255) have a mean or spread below these holds no visible face
DARK_MEAN = 18.0
FLAT_STD = 4.0


@dataclass(frozen=True)
class TrackerSettings:
    # the source camera's focal length over the image width (the Camera convention); the
    # default is the project's portrait camera, which the synthetic sequences use
    focal: float = DEFAULT_FOCAL
    # One-Euro: pose in degrees, expression in weight units
    # (beta 0.1: on the eval sequences median error 2.71 deg against 3.28 at 0.06, a 30 degree
    # step followed in 2 frames against 3; a still head with sensor noise moves a little more)
    pose_smoothing: OneEuroSettings = OneEuroSettings(min_cutoff=0.3, beta=0.1, d_cutoff=1.0)
    # (beta 1: the face mesh's readings move with sensor noise; on the eval sequences the
    # mean error is 0.0749 against 0.0739 at beta 4, and a still, noisy face's weights
    # wander over 0.13 instead of 0.18)
    expression_smoothing: OneEuroSettings = OneEuroSettings(min_cutoff=1.0, beta=1.0, d_cutoff=2.0)
    lost_after: int = 3            # verification misses in a row before the face is lost
    hold_seconds: float = 0.5      # a lost face's last pose and expression are held this long,
    ease_seconds: float = 1.0      # then eased back to neutral over this long

    def __post_init__(self):
        if self.focal <= 0 or self.lost_after < 1 or self.hold_seconds < 0 or self.ease_seconds < 0:
            raise ValueError("tracker settings: focal > 0, lost_after >= 1, hold and ease times >= 0")


@dataclass(frozen=True)
class TrackedFrame:
    """What the tracker says about one frame. `pose` and `expression` are what to drive
    the avatar with (smoothed; held or easing back to neutral when there is no face);
    the raw_ fields are this frame's own estimate (None without a face)."""

    time: float
    face: bool
    confidence: float
    pose: HeadPose
    expression: Expression
    landmarks: np.ndarray | None = None
    box: FaceBox | None = None
    raw_pose: HeadPose | None = None
    raw_expression: Expression | None = None
    timings_ms: dict = field(default_factory=dict)
    status: str = "tracking"   # or "no face", "too dark", "face lost"

    def to_json(self, index: int) -> dict:
        """The track JSON record of one frame: face, yaw, pitch, roll, expression."""
        return {"frame": index, "face": self.face, "yaw": round(self.pose.yaw, 4), "pitch": round(self.pose.pitch, 4),
                "roll": round(self.pose.roll, 4), "confidence": round(self.confidence, 4),
                "expression": {k: round(v, 4) for k, v in self.expression.to_dict().items()}}


def _smoothstep(t: float) -> float:
    t = min(max(t, 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


class FaceTracker:
    def __init__(self, model: FaceModel | None = None, settings: TrackerSettings = TrackerSettings(),
                 names=DEFAULT_EXPRESSION_NAMES, faces: DlibFaceLandmarks | None = None,
                 expression_source: str = "auto"):
        """expression_source: "mesh" (MediaPipe's face mesh; an error where it is not
        installed), "dlib" (the 68 landmarks), or "auto" (the mesh where it can run)."""
        self.model = model or FaceModel.load()
        self.settings = settings
        self.names = tuple(names)
        self.faces = faces or DlibFaceLandmarks()
        # where each of the regressor's outputs goes in the output names (-1: not there)
        self._slots = np.array([self.names.index(n) if n in self.names else -1 for n in self.model.names])
        self.mesh, self.mesh_model = load_expression_mesh(expression_source)
        self._mesh_slots = (None if self.mesh_model is None else
                            np.array([self.names.index(n) if n in self.names else -1 for n in self.mesh_model.names]))
        self.mesh_reference = None   # the user's neutral mesh, after calibrate()
        # the mesh of a tracked face runs on a helper thread while dlib verifies and finds the
        # landmarks (MediaPipe releases the GIL while it computes: 12.3 -> 7.5 ms a frame here)
        self._mesh_pool = None
        if self.mesh is not None:
            from concurrent.futures import ThreadPoolExecutor

            self._mesh_pool = ThreadPoolExecutor(1, thread_name_prefix="face-mesh")
        self.reference = None   # the user's neutral face, after calibrate()
        self.pose_offset = np.zeros(3)   # the angles of their straight look, after calibrate()
        self.reset()

    # -- state -------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the face being tracked and the smoothing (not the calibration)."""
        self._box_rule: BoxFromLandmarks | None = None
        self._box: FaceBox | None = None
        self._last_box: FaceBox | None = None
        self._fit: PoseFit | None = None
        self._misses = 0
        self._verify_at = VERIFY_THRESHOLD
        self._trusted = 0
        self._lost_since: float | None = None
        self._pose_filter = OneEuroFilter(self.settings.pose_smoothing)
        self._expr_filter = OneEuroFilter(self.settings.expression_smoothing)
        self._anchor_filter = OneEuroFilter(MESH_ANCHOR_SMOOTHING)
        self._output = (np.zeros(3), np.zeros(len(self.names)))   # last output, smoothed
        self._held = self._output
        self._last_landmarks = None
        self._last_size = None
        self._last_mesh = None
        self._mesh_values = None   # the last mesh estimate (held through frames the mesh misses)
        self._next_anchor = None   # (centre, spread) framing the next frame's mesh crop (smoothed, a frame behind)
        self._mesh_job = None

    @property
    def expression_source(self) -> str:
        return "dlib" if self.mesh is None else "mesh"

    def close(self) -> None:
        """Release the detectors (dlib's CNN helper process, MediaPipe's graph)."""
        self.faces.close()
        if self._mesh_pool is not None:
            self._mesh_pool.shutdown(wait=True)
        if self.mesh is not None:
            self.mesh.close()

    @property
    def tracking(self) -> bool:
        return self._box is not None

    def calibrate(self) -> bool:
        """Take the last frame's face as the user's neutral face looking straight at the
        camera: later poses are relative to that look (its angles are subtracted),
        expressions to that face. False (and nothing changes) when the last frame had no
        face."""
        if self._last_landmarks is None:
            return False
        w, h = self._last_size
        self.reference = self.model.calibrate(self._last_landmarks, w, h, self.settings.focal)
        self.pose_offset = self._last_raw_pose.copy()
        if self.mesh_model is not None and self._last_mesh is not None:
            self.mesh_reference = self.mesh_model.calibrate(self._last_mesh)
        return True

    def set_smoothing(self, pose: OneEuroSettings, expression: OneEuroSettings) -> None:
        """Change the One-Euro settings while tracking (the filters keep their state)."""
        from dataclasses import replace

        self.settings = replace(self.settings, pose_smoothing=pose, expression_smoothing=expression)
        self._pose_filter.settings = pose
        self._expr_filter.settings = expression

    def clear_calibration(self) -> None:
        self.reference = None
        self.mesh_reference = None
        self.pose_offset = np.zeros(3)

    # -- per frame ---------------------------------------------------------------------
    def process(self, frame: np.ndarray, time: float) -> TrackedFrame:
        t0 = _time.perf_counter()
        gray = to_gray(frame)
        timings = {}
        try:
            return self._process(frame, time, gray, timings, t0)
        finally:
            if self._mesh_job is not None:   # a frame that lost the face: its mesh is not used
                self._mesh_job.result()
                self._mesh_job = None

    def _process(self, frame, time, gray, timings, t0):
        h, w = gray.shape
        score = None
        if self._box is None:
            boxes = self.faces.detect(gray, fallback=True)
            timings["detect"] = (_time.perf_counter() - t0) * 1e3
            if boxes:
                box = self._choose(boxes)
                points = self.faces.landmarks(gray, box)
                self._box_rule = BoxFromLandmarks.measure(box, points)
                self._box, score = box, box.score
                self._verify_at = float(np.clip(box.score - VERIFY_MARGIN, VERIFY_FLOOR, VERIFY_THRESHOLD))
            else:
                return self._no_face(time, timings, t0, "too dark" if _hidden(gray) == "too dark" else "no face")
        else:
            if self._mesh_pool is not None and self._next_anchor is not None:
                self._mesh_job = self._mesh_pool.submit(self.mesh.points, frame, *self._next_anchor)
            t1 = _time.perf_counter()
            hidden = _hidden(_crop(gray, self._box))
            dark = hidden is not None
            if dark:
                score = self._verify_at
            elif self._trusted > 0:   # the CNN saw this face a frame or two ago
                self._trusted -= 1
                score = self._verify_at + 1e-3
            else:
                score = self.faces.verify(gray, self._box, self._verify_at)
                if score <= self._verify_at and self.faces.verify_cnn(gray, self._box):
                    score = self._verify_at + 1e-3   # a face, though HOG no longer sees it (turned, dim)
                    self._trusted = CNN_TRUST_FRAMES
            timings["verify"] = (_time.perf_counter() - t1) * 1e3
            if score <= self._verify_at:
                self._misses += 1
                if self._misses >= self.settings.lost_after:
                    self._last_box, self._box, self._fit = self._box, None, None
                return self._no_face(time, timings, t0, "too dark" if hidden == "too dark" else "face lost")
            t1 = _time.perf_counter()
            points = self.faces.landmarks(gray, self._box)
            timings["landmarks"] = (_time.perf_counter() - t1) * 1e3
        self._misses = 0
        t1 = _time.perf_counter()
        try:
            estimate = self.model.estimate(points, w, h, self.settings.focal, self.reference, self._fit)
        except ValueError:
            self._last_box, self._box, self._fit = self._box, None, None
            return self._no_face(time, timings, t0)
        timings["pose_expression"] = (_time.perf_counter() - t1) * 1e3
        raw_values = np.zeros(len(self.names))
        raw_values[self._slots[self._slots >= 0]] = estimate.weights[self._slots >= 0]
        if self.mesh is not None:
            t1 = _time.perf_counter()
            anchor = self._mesh_anchor(points, time)
            if self._mesh_job is not None:   # started with the frame, framed by the last frame's anchor
                mesh, self._mesh_job = self._mesh_job.result(), None
            else:
                mesh = self.mesh.points(frame, *anchor)
            self._next_anchor = anchor
            if mesh is not None:
                weights = self.mesh_model.estimate(mesh, self.mesh_reference)
                self._mesh_values = np.zeros(len(self.names))
                self._mesh_values[self._mesh_slots[self._mesh_slots >= 0]] = weights[self._mesh_slots >= 0]
            self._last_mesh = mesh
            if self._mesh_values is not None:
                raw_values = self._mesh_values.copy()
            timings["mesh"] = (_time.perf_counter() - t1) * 1e3
        self._last_raw_pose = estimate.pose.as_array()
        raw_pose = self._last_raw_pose - self.pose_offset

        if self._lost_since is not None:
            # back from a loss: continue from what was being shown, not from a jump
            self._pose_filter.reset(self._output[0], time)
            self._expr_filter.reset(self._output[1], time)
            self._anchor_filter.reset()
            self._next_anchor = None
            self._lost_since = None
        pose = self._pose_filter(raw_pose, time)
        values = np.clip(self._expr_filter(raw_values, time), 0.0, 1.0)
        self._output = self._held = (pose, values)
        self._fit = estimate.fit
        self._last_landmarks, self._last_size = points, (w, h)
        next_box = self._box_rule(points, score)
        if not (0 <= next_box.centre[0] < w and 0 <= next_box.centre[1] < h) or next_box.width < 16:
            self._last_box, self._box, self._fit = next_box, None, None   # left the picture
        else:
            self._box = next_box
        timings["total"] = (_time.perf_counter() - t0) * 1e3
        confidence = float(np.clip((score - self._verify_at) / (CONFIDENT_SCORE - self._verify_at), 0.0, 1.0))
        return TrackedFrame(time, True, confidence, HeadPose(*pose), Expression(self.names, values), points,
                            next_box, HeadPose(*raw_pose), Expression(self.names, np.clip(raw_values, 0, 1)), timings)

    def _mesh_anchor(self, points: np.ndarray, time: float) -> tuple[np.ndarray, float]:
        """The landmarks' smoothed (centre, spread): what frames the face-mesh crop."""
        centre, spread = landmark_frame(points)
        cx, cy, smooth_spread = self._anchor_filter(np.array([centre[0], centre[1], spread]), time)
        return np.array([cx, cy]), float(smooth_spread)

    def _choose(self, boxes: list[FaceBox]) -> FaceBox:
        """The face overlapping the one last tracked (it came back), else the largest."""
        if self._last_box is not None:
            overlapping = [b for b in boxes if b.iou(self._last_box) > 0.1]
            if overlapping:
                return max(overlapping, key=lambda b: b.iou(self._last_box))
        return max(boxes, key=lambda b: b.area())

    def _no_face(self, time: float, timings: dict, t0: float, status: str = "no face") -> TrackedFrame:
        """Hold the last good output, then ease it back to neutral."""
        s = self.settings
        if self._lost_since is None:
            self._lost_since = time
            self._held = self._output
        self._last_landmarks = None
        self._last_mesh = None
        lost_for = time - self._lost_since
        k = _smoothstep((lost_for - s.hold_seconds) / s.ease_seconds) if s.ease_seconds > 0 else float(lost_for > s.hold_seconds)
        pose, values = ((1.0 - k) * self._held[0], (1.0 - k) * self._held[1])
        self._output = (pose, values)
        timings["total"] = (_time.perf_counter() - t0) * 1e3
        return TrackedFrame(time, False, 0.0, HeadPose(*pose), Expression(self.names, np.clip(values, 0, 1)),
                            timings_ms=timings, status=status)


def _crop(gray: np.ndarray, box: FaceBox) -> np.ndarray:
    h, w = gray.shape
    x0, x1 = int(max(box.left, 0)), int(min(box.right, w))
    y0, y1 = int(max(box.top, 0)), int(min(box.bottom, h))
    return gray[y0:y1, x0:x1] if x1 > x0 and y1 > y0 else gray[:0, :0]


def _hidden(gray: np.ndarray) -> str | None:
    """Why these pixels cannot show a face ("too dark", "flat"; an empty crop is flat),
    or None."""
    if gray.size == 0:
        return "flat"
    small = gray[::4, ::4] if gray.size > 40_000 else gray
    if float(small.mean()) < DARK_MEAN:
        return "too dark"
    return "flat" if float(small.std()) < FLAT_STD else None
