"""Where a benchmark's CPU went: seconds used per thread, child process and X server."""
from __future__ import annotations

import os
from pathlib import Path


def thread_cpu_seconds() -> dict:
    """CPU seconds used so far by each thread of this process (by Python thread name; the
    GUI thread is MainThread, threads Python did not start are summed as 'native'), by its
    child processes ('children': the tracker's helper process) and by the X server."""
    import threading

    tick = os.sysconf("SC_CLK_TCK")
    names = {t.native_id: t.name for t in threading.enumerate()}

    def cpu(stat_path):
        try:
            fields = Path(stat_path).read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / tick   # utime + stime

    out = {}
    for task in Path("/proc/self/task").iterdir():
        name = names.get(int(task.name), "native")
        out[name] = out.get(name, 0.0) + cpu(task / "stat")
    children = set()
    for task in Path("/proc/self/task").iterdir():   # each thread lists the children it started
        try:
            children.update((task / "children").read_text().split())
        except OSError:
            pass
    for child in children:
        out["children"] = out.get("children", 0.0) + cpu(f"/proc/{child}/stat")
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() == "Xvfb":
                    out["Xvfb"] = out.get("Xvfb", 0.0) + cpu(proc / "stat")
            except OSError:
                pass
    return out
