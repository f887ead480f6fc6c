"""The studio's Export menu: mesh, image (one pass or every pass), video (paths or the
timeline), each run as a cancellable background job."""
from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QInputDialog

from app.jobs import Job
from core.export.mesh import MeshExportConfig, extract_mesh, save_mesh
from core.export import video
from core.fileio import save_png
from core.passes import pass_image, resize_frame, rgba_image, save_passes
from core.state import RenderSettings


class Exporter:
    def __init__(self, window):
        self.w = window
        self.jobs: list[Job] = []

    def _job(self, title, fn, total=0, show_dialog=True):
        job = Job(self.w, title, fn, total, show_dialog)
        job.finished.connect(lambda r: self.w.statusBar().showMessage(str(r), 8000))
        job.failed.connect(lambda m: self.w.statusBar().showMessage(f"{title}: {m}", 8000))
        self.jobs.append(job)
        return job.start()

    def shutdown(self):
        for job in self.jobs:
            job.cancel()
        for job in self.jobs:
            job.wait(timeout=60)

    # -- the work (also called directly by tests) --------------------------------------
    def export_mesh(self, path, cfg: MeshExportConfig = MeshExportConfig(), show_dialog=True) -> Job:
        engine, state = self.w.engine, self.w.doc.state

        def work(report, cancelled):
            report(0, 1)
            mesh = extract_mesh(engine, state, cfg)
            report(1, 1)
            save_mesh(mesh, path)
            return f"Exported {path}: {len(mesh.faces)} faces"

        return self._job("Exporting mesh...", work, 1, show_dialog)

    def export_image(self, path, resolution: int, all_passes: bool = False, transparent: bool = False,
                     show_dialog=True) -> Job:
        engine = self.w.engine
        state = self.w.doc.state.with_(render=RenderSettings(resolution, "refined", self.w.doc.state.render.render_pass,
                                                             self.w.doc.state.render.background))

        def work(report, cancelled):
            frame = engine.render(state, keep=False).frame
            if frame.rgb.shape[0] != resolution:
                frame = resize_frame(frame, resolution)
            if all_passes:
                save_passes(frame, path, state.render.background)
                return f"Exported passes to {path}"
            name = state.render.render_pass
            if transparent and name not in ("depth", "alpha"):
                img = rgba_image(frame, name)
            else:
                img = pass_image(frame, name, state.render.background)
            save_png(path, img)
            return f"Exported {path}"

        return self._job("Exporting image...", work, 1, show_dialog)

    def export_video(self, path, kind: str = "orbit", frames: int = 48, fps: float = 24.0, resolution: int = 256,
                     show_dialog=True) -> Job:
        engine = self.w.engine
        base = self.w.doc.state.with_(render=RenderSettings(resolution, "refined", "rgb",
                                                            self.w.doc.state.render.background))
        states = list(video.path_states(kind, base, frames, timeline=list(self.w.timeline.keys)))

        def work(report, cancelled):
            def gen():
                for i, s in enumerate(states):
                    report(i, len(states))
                    s = s.with_(render=base.render)
                    frame = engine.render(s, keep=False).frame
                    if frame.rgb.shape[0] != resolution:
                        frame = resize_frame(frame, resolution)
                    yield pass_image(frame, "rgb", s.render.background)

            n = video.write_video(gen(), path, fps, len(states), progress=False)
            return f"Exported {path}: {n} frames"

        return self._job("Exporting video...", work, frames, show_dialog)

    # -- dialogs ----------------------------------------------------------------------------
    def mesh_dialog(self):
        path, _ = QFileDialog.getSaveFileName(self.w, "Export mesh", "head.glb", "Meshes (*.glb *.obj *.ply)")
        if not path:
            return
        grid, ok = QInputDialog.getInt(self.w, "Export mesh", "Marching cubes resolution", 256, 64, 512, 32)
        if ok:
            self.export_mesh(path, MeshExportConfig(resolution=grid))

    def image_dialog(self):
        path, _ = QFileDialog.getSaveFileName(self.w, "Export image", "head.png", "PNG (*.png)")
        if path:
            res, ok = QInputDialog.getInt(self.w, "Export image", "Resolution", 512, 64, 2048, 64)
            if ok:
                self.export_image(path, res, transparent=True)

    def passes_dialog(self):
        folder = QFileDialog.getExistingDirectory(self.w, "Export every pass into")
        if folder:
            self.export_image(folder, 512, all_passes=True)

    def video_dialog(self, kind: str):
        path, _ = QFileDialog.getSaveFileName(self.w, "Export video", f"{kind}.mp4", "Video (*.mp4 *.gif)")
        if not path:
            return
        frames, ok = QInputDialog.getInt(self.w, "Export video", "Frames", 96, 2, 10000, 1)
        if ok:
            try:
                self.export_video(path, kind, frames)
            except ValueError as e:
                self.w._error("Export video", str(e))
