"""Draw the application icon: resources/avatar-studio.svg and resources/avatar-studio.png
(256 px, rendered from the SVG with Qt's SVG renderer so the two always match).

    python packaging/make_icon.py

A lit head (a radial gradient from the upper left, the key-left light the studio starts
with) over a dark rounded square, an orbit ring and the key light's ball.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SVG = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#2b3142"/>
      <stop offset="1" stop-color="#161922"/>
    </linearGradient>
    <radialGradient id="skin" cx="0.34" cy="0.30" r="0.85">
      <stop offset="0" stop-color="#f4c7a1"/>
      <stop offset="0.45" stop-color="#c98a62"/>
      <stop offset="1" stop-color="#5a3424"/>
    </radialGradient>
    <radialGradient id="light" cx="0.4" cy="0.35" r="0.7">
      <stop offset="0" stop-color="#ffffff"/>
      <stop offset="1" stop-color="#ffd76a"/>
    </radialGradient>
  </defs>
  <rect x="8" y="8" width="240" height="240" rx="44" fill="url(#bg)"/>
  <ellipse cx="128" cy="150" rx="98" ry="26" fill="none" stroke="#5fa8ff" stroke-width="5"
           stroke-opacity="0.55"/>
  <path d="M104 178 L104 214 Q128 226 152 214 L152 178 Z" fill="url(#skin)"/>
  <ellipse cx="128" cy="118" rx="54" ry="70" fill="url(#skin)"/>
  <path d="M128 150 m-98 0 a98 26 0 0 0 196 0" fill="none" stroke="#5fa8ff" stroke-width="5"/>
  <ellipse cx="108" cy="112" rx="9" ry="5" fill="#2a1a14"/>
  <ellipse cx="148" cy="112" rx="9" ry="5" fill="#2a1a14"/>
  <path d="M110 152 Q128 162 146 152" fill="none" stroke="#7a2f2a" stroke-width="5"
        stroke-linecap="round"/>
  <circle cx="52" cy="56" r="20" fill="url(#light)"/>
</svg>
"""


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QByteArray, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841
    out = ROOT / "resources"
    renderer = QSvgRenderer(QByteArray(SVG.encode()))
    if not renderer.isValid():
        print("make_icon: the SVG does not parse", file=sys.stderr)
        return 1
    image = QImage(256, 256, QImage.Format_ARGB32)
    image.fill(Qt.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.Antialiasing)
    renderer.render(painter)
    painter.end()
    for name, write in (("avatar-studio.svg", lambda p: Path(p).write_text(SVG)),
                        ("avatar-studio.png", lambda p: image.save(p, "PNG"))):
        fd, tmp = tempfile.mkstemp(dir=out, suffix=".tmp")
        os.close(fd)
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out / name)
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
