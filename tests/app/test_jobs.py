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


def test_a_finished_job_does_not_outlive_its_delivery(qtbot):
    """A Job parented to a long-lived widget (the viewport starts one per head change)
    must not stay among its children holding its result: the soak found them piling up."""
    from PySide6.QtCore import QObject

    owner = QObject()
    results = []
    for _ in range(3):
        job = Job(owner, "test", lambda _r, _c: bytearray(1 << 20), show_dialog=False)
        job.finished.connect(results.append)
        job.start()
        qtbot.waitUntil(lambda: job.done.is_set(), timeout=5000)
    qtbot.waitUntil(lambda: len(results) == 3, timeout=5000)
    qtbot.waitUntil(lambda: not owner.findChildren(Job), timeout=5000)
    assert job.result is not None  # whoever kept the Python object can still read it
