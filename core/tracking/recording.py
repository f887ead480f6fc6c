"""Recording a live session to MP4 without ever holding up the session, and without losing
what was recorded when the session ends badly.

- Frames are handed over with the time they belong to; a writer thread encodes them at a
  constant frame rate (a frame is repeated to fill a gap, a frame whose slot is already
  written is left out), so the video runs in real time whatever the render rate.
- The hand-over queue is short: when the encoder falls behind, the oldest waiting frame is
  dropped, never the session slowed.
- The MP4 is fragmented (`-movflags +frag_keyframe+empty_moov+default_base_moof`): every
  fragment already written plays, even if the process is killed before `close()`.
  `close()` finishes the file; the recording is written under its final name from the
  start (a temporary name would be lost with a crash, which is what this guards against).
"""
from __future__ import annotations

import queue
import threading
from pathlib import Path

import numpy as np

MAX_GAP_SECONDS = 2.0   # a longer pause in the frames is not filled with repeats
FRAGMENTED_MP4 = ["-movflags", "+frag_keyframe+empty_moov+default_base_moof"]
KEYFRAME_SECONDS = 1.0  # a fragment (what survives a crash) per keyframe


def side_by_side(source: np.ndarray | None, avatar: np.ndarray) -> np.ndarray:
    """The source frame (scaled to the avatar's height, even width) left of the avatar;
    a black panel of the avatar's size when there is no source image."""
    import cv2

    h = avatar.shape[0]
    if source is None:
        return np.concatenate([np.zeros_like(avatar), avatar], axis=1)
    w = max(2, int(round(h * source.shape[1] / source.shape[0] / 2.0)) * 2)
    panel = cv2.resize(source, (w, h), interpolation=cv2.INTER_AREA if source.shape[0] > h else cv2.INTER_LINEAR)
    return np.concatenate([panel[..., :3], avatar[..., :3]], axis=1)


def draw_landmarks(image: np.ndarray, landmarks: np.ndarray | None, max_width: int | None = None) -> np.ndarray:
    """A copy of `image` (scaled down to `max_width` if wider) with the landmarks drawn."""
    import cv2

    img = np.ascontiguousarray(image[..., :3])
    scale = 1.0
    if max_width is not None and img.shape[1] > max_width:
        scale = max_width / img.shape[1]
        img = cv2.resize(img, (max_width, max(1, round(img.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    else:
        img = img.copy()
    if landmarks is not None:
        r = max(1, round(img.shape[0] / 160))
        for x, y in np.asarray(landmarks) * scale:
            cv2.circle(img, (int(x), int(y)), r, (40, 230, 90), -1, lineType=cv2.LINE_AA)
    return img


class VideoRecorder:
    """`add(image, time)` from any thread; `close()` finishes the file (returns frames)."""

    def __init__(self, path, fps: float = 30.0, queue_size: int = 16):
        import imageio.v2 as imageio

        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise ValueError(f"{self.path}: a recording must be .mp4")
        if not (0 < fps <= 120):
            raise ValueError(f"recording frame rate {fps} outside (0, 120]")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = float(fps)
        self.frames_written = 0
        self.frames_dropped = 0
        self.error: str | None = None
        self._size = None
        self._writer = imageio.get_writer(str(self.path), format="FFMPEG", fps=self.fps, codec="libx264",
                                          pixelformat="yuv420p", macro_block_size=2, quality=7,
                                          ffmpeg_log_level="quiet",
                                          output_params=FRAGMENTED_MP4 + ["-g", str(max(1, round(self.fps * KEYFRAME_SECONDS)))])
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._start_time = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="video-recorder", daemon=True)
        self._thread.start()

    def add(self, image: np.ndarray, time: float) -> None:
        if self._closed:
            return
        item = (np.ascontiguousarray(image[..., :3], dtype=np.uint8), float(time))
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            try:
                self._queue.get_nowait()   # the oldest waiting frame goes
                self.frames_dropped += 1
            except queue.Empty:
                pass
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                self.frames_dropped += 1

    def _run(self):
        last = None
        while True:
            item = self._queue.get()
            if item is None:
                break
            if self.error is not None:
                continue
            image, t = item
            try:
                if self._size is None:
                    self._size = image.shape[:2]
                    self._start_time = t
                elif image.shape[:2] != self._size:   # every frame must have the first one's size
                    import cv2

                    image = cv2.resize(image, (self._size[1], self._size[0]), interpolation=cv2.INTER_AREA)
                due = int(np.floor((t - self._start_time) * self.fps + 1e-6)) + 1
                if last is not None and due > self.frames_written + 1:
                    repeats = min(due - 1 - self.frames_written, int(MAX_GAP_SECONDS * self.fps))
                    for _ in range(repeats):
                        self._writer.append_data(last)
                        self.frames_written += 1
                if due > self.frames_written or last is None:
                    self._writer.append_data(image)
                    self.frames_written += 1
                last = image
            except Exception as e:  # a full disk: stop writing, keep what is there
                self.error = f"{self.path}: recording stopped ({str(e).splitlines()[0] if str(e) else type(e).__name__})"

    def close(self) -> int:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()
            try:
                self._writer.close()
            except Exception as e:
                self.error = self.error or f"{self.path}: could not finish the recording ({e})"
        return self.frames_written
