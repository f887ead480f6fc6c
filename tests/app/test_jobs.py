"""The studio's one background-work mechanism: nothing runs before start(), results
and progress arrive on the GUI thread, cancel stops the work."""
import threading
import time

from app.jobs import Job


def test_job_delivers_on_the_gui_thread_only_after_start(qtbot):
    seen = []

    def work(report, _cancelled):
        report(1, 2)
        return threading.current_thread() is threading.main_thread()

    job = Job(None, "test", work, show_dialog=False)
    time.sleep(0.05)
    assert not job.done.is_set()  # not started: nothing ran
    job.progressed.connect(lambda d, t: seen.append(("progress", threading.current_thread() is threading.main_thread())))
    job.finished.connect(lambda r: seen.append(("finished", r, threading.current_thread() is threading.main_thread())))
    job.start()
    qtbot.waitUntil(lambda: any(s[0] == "finished" for s in seen), timeout=5000)
    assert ("progress", True) in seen
    assert ("finished", False, True) in seen  # worked off the GUI thread, delivered on it


def test_cancel_ends_the_work_with_cancelled(qtbot):
    reasons = []

    def work(report, _cancelled):
        for i in range(1000):
            report(i, 1000)
            time.sleep(0.005)

    job = Job(None, "test", work, show_dialog=False)
    job.failed.connect(reasons.append)
    job.start()
    job.cancel()
    qtbot.waitUntil(lambda: reasons == ["cancelled"], timeout=5000)
    assert job.wait(1) and job.error == "cancelled"
