"""The GIL is released during detection: threads with a Detector each run in parallel."""
import os
import threading
import time

import numpy as np
import pytest

import retinaface_c as rf


@pytest.fixture(scope="module")
def frame(photos):
    return rf.load_image(photos[0])


def test_python_runs_while_detecting(mnet, frame):
    """A pure-Python thread keeps running while another thread is inside detect(): with the
    GIL held through the C call it would stand still for whole frames."""
    det = rf.Detector(mnet)
    det.detect(frame, input_size=(640, 640))  # plan the arena outside the measurement
    progress = []

    def count():
        t_end = time.perf_counter() + 10
        while time.perf_counter() < t_end and not stop.is_set():
            progress.append(time.perf_counter())

    stop = threading.Event()
    t = threading.Thread(target=count)
    t.start()
    try:
        time.sleep(0.05)
        inside = []
        for _ in range(10):
            before = len(progress)
            det.detect(frame, input_size=(640, 640))
            inside.append(len(progress) - before)
    finally:
        stop.set()
        t.join()
    # with the GIL held the counter could move only between calls (a handful of steps)
    assert sorted(inside)[5] > 1000, inside


def _run_threads(detectors, frame, seconds):
    """Each detector on its own thread for `seconds`; returns (frames per second, the
    [start, end] of every detect() call per thread)."""
    calls = [[] for _ in detectors]
    start = threading.Barrier(len(detectors) + 1)
    deadline = []

    def work(i):
        start.wait()
        while time.perf_counter() < deadline[0]:
            t0 = time.perf_counter()
            detectors[i].detect(frame, input_size=(640, 640))
            calls[i].append((t0, time.perf_counter()))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(detectors))]
    for t in threads:
        t.start()
    deadline.append(time.perf_counter() + seconds)
    start.wait()
    for t in threads:
        t.join()
    return sum(len(c) for c in calls) / seconds, calls


def _overlap(a, b):
    """Total time during which a call of list a and a call of list b were both running."""
    total = 0.0
    for s, e in a:
        for s2, e2 in b:
            total += max(0.0, min(e, e2) - max(s, s2))
    return total


@pytest.fixture(scope="module")
def two_detectors(mnet, frame):
    model = rf.Model(mnet)
    dets = [rf.Detector(model), rf.Detector(model)]  # one model, a context each
    for d in dets:
        d.detect(frame, input_size=(640, 640))
    return dets


def test_two_detectors_run_at_the_same_time(two_detectors, frame):
    """The detect() calls of two threads overlap in time for most of their length, which
    they cannot if the GIL is held through the C call (whatever the machine's load)."""
    _, (a, b) = _run_threads(two_detectors, frame, 1.0)
    busy = sum(e - s for s, e in a)
    assert len(a) > 2 and len(b) > 2
    assert _overlap(a, b) > 0.5 * busy, (_overlap(a, b), busy)


def _idle_cpus(seconds=0.5):
    """CPUs idle on average over the next `seconds` (from /proc/stat)."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v)  # idle + iowait, all
    idle0, all0 = sample()
    time.sleep(seconds)
    idle1, all1 = sample()
    return (os.cpu_count() or 1) * (idle1 - idle0) / max(1, all1 - all0)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="SKIP needs 2 CPUs")
def test_two_detectors_on_two_threads_are_faster(two_detectors, frame):
    """Two threads with a Detector each (one shared Model) against one thread. Only
    meaningful with two cores free: skipped on a busy machine. The bar is below the
    benchmark's 1.7x (bench/bench_python.py measures that); the best of three tries counts."""
    idle = _idle_cpus() if os.path.exists("/proc/stat") else float(os.cpu_count() or 1)
    if idle < 1.8:
        pytest.skip(f"SKIP the machine is busy ({idle:.1f} of {os.cpu_count()} CPUs idle): "
                    "two free cores are needed to measure a speed-up")
    ratios = []
    for _ in range(3):
        one, _ = _run_threads(two_detectors[:1], frame, 1.5)
        two, _ = _run_threads(two_detectors, frame, 1.5)
        ratios.append(two / one)
        if ratios[-1] > 1.3:
            break
    assert max(ratios) > 1.3, ratios


def test_one_detector_shared_by_threads_is_safe(mnet, photos):
    """Calls on one Detector from several threads wait for each other (no corruption)."""
    det = rf.Detector(mnet)
    want = {p: det.detect(p).boxes for p in photos}
    errors = []

    def work():
        try:
            for p in photos * 2:
                if not np.array_equal(det.detect(p).boxes, want[p]):
                    errors.append(p)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
