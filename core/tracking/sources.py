"""Where tracking input comes from, behind one interface: a video file, a folder of images,
a webcam, or an ARKit / Live Link Face capture (CSV of blendshape weights and head
angles, which needs no tracking at all).

`open_source(spec)` picks the kind: `webcam` or `webcam:N`, a folder, a `.csv` file, or
any other file as a video. Each source yields `SourceFrame`s: an RGB image (uint8), or
for a capture the pose and weights themselves. Problems opening a source are one-line
`SourceError`s; a source that fails part-way (a video that is cut short, a webcam that is
unplugged) stops with a warning in `stopped_early`, keeping the frames already given.
"""
from __future__ import annotations

import csv
import math
import re
import time as _time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.expression import ARKIT_BLENDSHAPES
from core.tracking.pose import HeadPose, head_rotation_to_orbit

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
DEFAULT_FOLDER_FPS = 30.0
# Live Link Face records at 60 frames a second; its timecode's frame field counts them
DEFAULT_CAPTURE_FPS = 60.0


class SourceError(ValueError):
    """A source that cannot be read: one line naming it and the problem."""


@dataclass(frozen=True)
class SourceFrame:
    index: int
    time: float                       # seconds from the first frame
    image: np.ndarray | None = None   # (H, W, 3) uint8 RGB
    pose: HeadPose | None = None      # a capture's own head pose (orbit convention)
    weights: dict | None = None       # a capture's own blendshape weights, ARKit names


class FrameSource:
    """Iterate for frames; `close()` when done (or use as a context manager)."""

    name: str = "source"
    fps: float = DEFAULT_FOLDER_FPS
    frame_count: int | None = None    # None: not known in advance (a webcam)
    has_images: bool = True
    stopped_early: str | None = None  # why the frames ended before the source did

    def __iter__(self):
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB from grey, RGBA, 16-bit or float ([0, 1]) images."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3]
    if img.dtype == np.uint16:
        img = (img.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = (np.clip(img.astype(np.float64), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(img)


class VideoFileSource(FrameSource):
    def __init__(self, path):
        import imageio.v2 as imageio

        self.path = Path(path)
        self.name = str(self.path)
        try:
            self._reader = imageio.get_reader(str(self.path), format="FFMPEG")
            meta = self._reader.get_meta_data()
        except Exception as e:  # imageio/ffmpeg raise many types for an unreadable file
            raise SourceError(f"{self.path}: not a readable video ({_first_line(e)})") from None
        fps = meta.get("fps")
        self.fps = float(fps) if fps and math.isfinite(fps) and fps > 0 else DEFAULT_FOLDER_FPS
        try:
            self.frame_count = int(self._reader.count_frames())
        except Exception as e:
            raise SourceError(f"{self.path}: not a readable video ({_first_line(e)})") from None
        if self.frame_count < 1:
            raise SourceError(f"{self.path}: the video has no frames")

    def __iter__(self):
        index = 0
        while True:
            try:
                image = self._reader.get_next_data()
            except (IndexError, StopIteration):
                break
            except Exception as e:
                self.stopped_early = f"{self.path}: video unreadable after frame {index} ({_first_line(e)})"
                break
            yield SourceFrame(index, index / self.fps, _rgb(image))
            index += 1
        if index < self.frame_count and self.stopped_early is None:
            self.stopped_early = f"{self.path}: the video ended after {index} of {self.frame_count} frames"

    def close(self) -> None:
        self._reader.close()


class ImageFolderSource(FrameSource):
    def __init__(self, folder, fps: float = DEFAULT_FOLDER_FPS):
        self.path = Path(folder)
        self.name = str(self.path)
        self.files = sorted((p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
                            key=lambda p: _natural_key(p.name))
        if not self.files:
            raise SourceError(f"{self.path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the folder")
        self.fps = float(fps)
        self.frame_count = len(self.files)

    def __iter__(self):
        import imageio.v2 as imageio

        for index, path in enumerate(self.files):
            try:
                image = imageio.imread(path)
            except Exception as e:
                raise SourceError(f"{path}: not a readable image ({_first_line(e)})") from None
            yield SourceFrame(index, index / self.fps, _rgb(image))


class WebcamSource(FrameSource):
    def __init__(self, device: int = 0):
        import cv2

        self.device = int(device)
        self.name = f"webcam:{self.device}"
        self._cap = cv2.VideoCapture(self.device)
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(f"webcam:{self.device}: no camera found (try another number, webcam:1 ...)")
        # keep at most one frame waiting in the driver: a slow consumer then gets the newest
        # frame, not one from a queue of old ones (not every back-end honours it)
        self._cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and math.isfinite(fps) and 1 <= fps <= 240 else 30.0
        self.frame_count = None

    def __iter__(self):
        import cv2

        start = None
        index = 0
        while True:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                self.stopped_early = f"webcam:{self.device}: the camera stopped sending frames (unplugged?)"
                return
            now = _time.monotonic()
            start = now if start is None else start
            yield SourceFrame(index, now - start, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1

    def close(self) -> None:
        self._cap.release()


def list_webcams(max_devices: int = 6) -> list[int]:
    """Camera numbers that open (a device picker's choices)."""
    import cv2

    found = []
    for i in range(max_devices):
        cap = cv2.VideoCapture(i)
        if cap.isOpened():
            found.append(i)
        cap.release()
    return found


# -- ARKit / Live Link Face captures ---------------------------------------------------
_ARKIT_BY_LOWER = {n.lower(): n for n in ARKIT_BLENDSHAPES}
_HEAD_COLUMNS = {"headyaw": "yaw", "headpitch": "pitch", "headroll": "roll"}
# columns a Live Link Face CSV has that are not blendshapes; read (timecode) or knowingly unused
_KNOWN_OTHER = {"timecode", "blendshapecount", "lefteyeyaw", "lefteyepitch", "lefteyeroll",
                "righteyeyaw", "righteyepitch", "righteyeroll"}
_TIMECODE = re.compile(r"^(\d+):(\d+):(\d+)[:;](\d+)(?:\.(\d+))?$")


@dataclass(frozen=True)
class ArkitCapture:
    times: np.ndarray             # (N,) seconds from the first row
    weights: dict                 # ARKit name -> (N,) values in [0, 1]
    head: np.ndarray | None       # (N, 3) head yaw, pitch, roll in radians, as captured
    ignored_columns: tuple        # columns that are neither known nor used
    fps: float


def parse_arkit_csv(path, fps: float | None = None) -> ArkitCapture:
    """Read an ARKit / Live Link Face CSV: a header of column names, one row per frame.

    Blendshape columns are matched to ARKit's names ignoring case (`EyeBlinkLeft` and
    `eyeBlinkLeft` are the same); HeadYaw/HeadPitch/HeadRoll are radians, the head's own
    rotation as ARKit's face anchor gives it; the Timecode column (HH:MM:SS:FF[.sub])
    gives each row's time, FF counting frames at `fps` (default 60, Live Link Face's
    rate). Unknown columns are ignored and listed; a file with no known column, a bad
    number or a short row is a one-line SourceError."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise SourceError(f"{path}: not a readable CSV file ({_first_line(e)})") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise SourceError(f"{path}: empty CSV file")
    header = [c.strip() for c in rows[0]]
    shapes, head_cols, timecode_col, ignored = {}, {}, None, []
    for i, col in enumerate(header):
        key = col.lower()
        if key in _ARKIT_BY_LOWER:
            shapes[_ARKIT_BY_LOWER[key]] = i
        elif key in _HEAD_COLUMNS:
            head_cols[_HEAD_COLUMNS[key]] = i
        elif key == "timecode":
            timecode_col = i
        elif key not in _KNOWN_OTHER:
            ignored.append(col)
    if not shapes and not head_cols:
        raise SourceError(f"{path}: no ARKit blendshape or head rotation column in the header "
                          "(expected an ARKit / Live Link Face CSV)")
    body = rows[1:]
    if not body:
        raise SourceError(f"{path}: the CSV has a header but no frames")
    used = list(shapes.values()) + list(head_cols.values())
    values = np.zeros((len(body), len(header)))
    for r, row in enumerate(body, start=2):
        if len(row) < len(header):
            raise SourceError(f"{path}: line {r} has {len(row)} of the header's {len(header)} columns")
        for i in used:
            try:
                values[r - 2, i] = float(row[i])
            except ValueError:
                raise SourceError(f"{path}: line {r}, column {header[i]}: {row[i]!r} is not a number") from None
    if not np.all(np.isfinite(values[:, used])):
        raise SourceError(f"{path}: non-finite values")
    rate = float(fps) if fps else DEFAULT_CAPTURE_FPS
    times = None
    if timecode_col is not None:
        times = _timecode_seconds([row[timecode_col] for row in body], rate)
    if times is None:
        times = np.arange(len(body)) / rate
    head = None
    if head_cols:
        head = np.stack([values[:, head_cols[a]] if a in head_cols else np.zeros(len(body))
                         for a in ("yaw", "pitch", "roll")], axis=1)
    weights = {n: np.clip(values[:, i], 0.0, 1.0) for n, i in shapes.items()}
    return ArkitCapture(times - times[0], weights, head, tuple(ignored), rate)


def _timecode_seconds(codes, fps: float) -> np.ndarray | None:
    """Seconds for SMPTE-style timecodes HH:MM:SS:FF(.sub); None if any does not parse
    or time goes backwards (then rows are taken as evenly spaced)."""
    out = []
    for code in codes:
        m = _TIMECODE.match(code.strip())
        if not m:
            return None
        h, mi, s, fr = (int(g) for g in m.groups()[:4])
        sub = float("0." + m.group(5)) if m.group(5) else 0.0
        out.append(h * 3600 + mi * 60 + s + (fr + sub) / fps)
    t = np.asarray(out)
    return t if np.all(np.diff(t) >= 0) else None


class ArkitCsvSource(FrameSource):
    """A capture as frames without images: each carries its pose and weights."""

    has_images = False

    def __init__(self, path, fps: float | None = None):
        self.path = Path(path)
        self.name = str(self.path)
        self.capture = parse_arkit_csv(self.path, fps)
        self.frame_count = len(self.capture.times)
        self.fps = self.capture.fps

    def __iter__(self):
        cap = self.capture
        for i, t in enumerate(cap.times):
            pose = None if cap.head is None else head_rotation_to_orbit(*np.degrees(cap.head[i]))
            yield SourceFrame(i, float(t), None, pose, {n: float(v[i]) for n, v in cap.weights.items()})


def open_source(spec: str, fps: float | None = None) -> FrameSource:
    """`webcam` / `webcam:N`, a folder of images, an ARKit .csv, or a video file."""
    spec = str(spec)
    m = re.fullmatch(r"webcam(?::(\d+))?", spec.strip().lower())
    if m:
        return WebcamSource(int(m.group(1) or 0))
    path = Path(spec)
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if path.is_dir():
        return ImageFolderSource(path, fps or DEFAULT_FOLDER_FPS)
    if path.suffix.lower() == ".csv":
        return ArkitCsvSource(path, fps)
    return VideoFileSource(path)


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
