"""The real window on a virtual X screen: the neural render, the panels and the OpenGL
geometry viewport (QOpenGLWidget does not work on Qt's offscreen platform)."""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def display():
    xvfb = shutil.which("Xvfb")
    assert xvfb, "Xvfb is missing: scripts/setup.sh installs it (Debian: xvfb libxcb-icccm4 libxcb-keysyms1)"
    for n in range(90, 120):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            break
    proc = subprocess.Popen([xvfb, f":{n}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while not Path(f"/tmp/.X11-unix/X{n}").exists() and time.time() < deadline:
        time.sleep(0.05)
    yield f":{n}"
    proc.terminate()
    proc.wait(5)


def test_window_with_render_panels_and_mesh_viewport(display, tmp_path):
    import cv2

    out = tmp_path / "studio.png"
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb")
    p = subprocess.run([sys.executable, "-m", "app.screenshot", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr[-2000:]
    img = cv2.imread(str(out))
    h, w = img.shape[:2]
    assert w >= 1200 and h >= 700
    # the geometry viewport (bottom left) shows a lit mesh, not just its dark background
    viewport = img[int(h * 0.6):int(h * 0.95), 10:340].astype(float)
    background = np.array([46, 41, 41])  # the viewport's clear colour (BGR of 0.18, 0.16, 0.16)
    assert (np.abs(viewport - background).sum(-1) > 60).mean() > 0.1
    # the neural view in the middle shows a head
    centre = img[int(h * 0.3):int(h * 0.7), int(w * 0.4):int(w * 0.6)].astype(float)
    assert centre.std() > 10
