#!/usr/bin/env python3
"""bench_python.py - what the Python layer costs: per-call overhead of Detector.detect over the
C call, and the throughput of two threads with a Detector each against one thread.

    /usr/bin/python3 bench/bench_python.py [--model M] [--image I] [--frames N] [--rounds R]

Uses the installed retinaface_c, or else the one in python/ with build/libretinaface.so.0.
Overhead (MobileNet0.25, the picture stretched to 640x640, 1 thread): rounds alternate a C
program (bench/detect_loop.c, compiled here against the same library) calling rf_detect
FRAMES times and this process calling Detector.detect FRAMES times on the same pixels; the
overhead is the difference of the medians. Its parts, measured in this process: the Python
around the ctypes call of rf_detect, and that call's own cost (rf_detect with a NULL context,
which returns at once after the same argument conversions).
Threads: frames/s of one thread with one Detector, then of two threads with a Detector each
(sharing one Model), then of one and of two C processes running rf_detect in a loop: what the
library itself gets from a second core at that moment. Alternated R times; medians.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:
    import retinaface_c as rf
except ImportError:
    sys.path.insert(0, os.path.join(ROOT, "python"))
    os.environ.setdefault("RETINAFACE_LIBRARY", os.path.join(ROOT, "build", "libretinaface.so.0"))
    import retinaface_c as rf
from retinaface_c import _core, _lib  # noqa: E402


class TimedLib:
    """Stands in for the library object in _core, timing the rf_detect foreign call."""

    def __init__(self, real):
        self._real = real
        self.inner = []

    def __getattr__(self, name):
        return getattr(self._real, name)

    def rf_detect(self, *args):
        t0 = time.perf_counter()
        st = self._real.rf_detect(*args)
        self.inner.append(time.perf_counter() - t0)
        return st


class NoFrameLib(TimedLib):
    """rf_detect returns at once, leaving the last call's faces: Detector.detect's Python
    back to back, with no frame in between to push it out of the caches."""

    def rf_detect(self, *args):
        return 0


def overhead(det, frame, frames):
    timed = TimedLib(_lib.lib)
    _core.lib = timed
    try:
        for _ in range(10):
            det.detect(frame, input_size=(640, 640))
        timed.inner.clear()
        outer = []
        for _ in range(frames):
            t0 = time.perf_counter()
            det.detect(frame, input_size=(640, 640))
            outer.append(time.perf_counter() - t0)
    finally:
        _core.lib = _lib.lib
    # the ctypes call itself: the same arguments, a NULL context (rf_detect returns RF_E_ARG)
    view = _core._image_view(frame, 0)
    args = (None, _lib.byref(view), _lib.byref(det._policy), _lib.byref(det._params),
            _lib.byref(det._faces), _lib.byref(det._err))
    null = []
    for _ in range(20000):
        t0 = time.perf_counter()
        _lib.lib.rf_detect(*args)
        null.append(time.perf_counter() - t0)
    python_side = [o - i for o, i in zip(outer, timed.inner)]
    _core.lib = NoFrameLib(_lib.lib)
    try:
        warm = []
        for _ in range(2000):
            t0 = time.perf_counter()
            det.detect(frame, input_size=(640, 640))
            warm.append(time.perf_counter() - t0)
    finally:
        _core.lib = _lib.lib
    return (statistics.median(outer), statistics.median(timed.inner),
            statistics.median(python_side), statistics.median(null), statistics.median(warm))


def build_c_loop(work):
    """Compiles bench/detect_loop.c against the library this process loaded."""
    lib = os.path.realpath(rf.library_path)
    exe = os.path.join(work, "detect_loop")
    subprocess.run(["cc", "-O2", "-std=c11", "-I", os.path.join(ROOT, "include"),
                    os.path.join(ROOT, "bench", "detect_loop.c"), lib,
                    "-Wl,-rpath," + os.path.dirname(lib), "-o", exe], check=True)
    return exe


def c_loop(exe, model, image, frames):
    out = subprocess.run([exe, model, image, "640", "640", str(frames), "10"], check=True,
                         capture_output=True, text=True).stdout
    return [float(v) / 1e3 for v in out.split()]


def py_loop(det, frame, frames):
    for _ in range(10):
        det.detect(frame, input_size=(640, 640))
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        det.detect(frame, input_size=(640, 640))
        times.append(time.perf_counter() - t0)
    return times


def c_throughput(exe, model, image, processes, frames):
    """frames/s of `processes` C loops running at once (each rf_detect timed inside)."""
    procs = [subprocess.Popen([exe, model, image, "640", "640", str(frames), "5"],
                              stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    rate = 0.0
    for p in procs:
        out, _ = p.communicate()
        if p.returncode:
            sys.exit("bench_python: detect_loop failed")
        times = [float(v) / 1e3 for v in out.split()]
        rate += len(times) / sum(times)
    return rate


def throughput(dets, frame, seconds):
    counts = [0] * len(dets)
    go = threading.Barrier(len(dets) + 1)
    end = []

    def work(i):
        go.wait()
        while time.perf_counter() < end[0]:
            dets[i].detect(frame, input_size=(640, 640))
            counts[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(dets))]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    end.append(t0 + seconds)
    go.wait()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    shared = os.environ.get("RETINAFACE_TESTDATA", os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--model", default=os.path.join(shared, "models", "mobilenet0.25_Final.pth"))
    ap.add_argument("--image", default=os.path.join(shared, "data", "images",
                                                    "retinaface_curve_test.jpg"))
    ap.add_argument("--frames", type=int, default=200, help="frames per overhead round")
    ap.add_argument("--rounds", type=int, default=7, help="alternations (C/Python, 1/2 threads)")
    ap.add_argument("--seconds", type=float, default=4.0, help="per throughput measurement")
    a = ap.parse_args()

    frame = rf.load_image(a.image)
    model = rf.Model(a.model)
    dets = [rf.Detector(model), rf.Detector(model)]
    print(f"retinaface_c {rf.__version__} ({rf.library_path}), {model.backbone}, "
          f"kernels {dets[0].kernels}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}")

    with tempfile.TemporaryDirectory() as work:
        exe = build_c_loop(work)
        overhead_benchmark(a, exe, dets, frame)
        dets[1].detect(frame, input_size=(640, 640))  # its arena planned before timing
        threads_benchmark(a, exe, dets, frame)


def overhead_benchmark(a, exe, dets, frame):
    c_medians, py_medians, c_min, py_min = [], [], [], []
    for _ in range(a.rounds):
        c = c_loop(exe, a.model, a.image, a.frames)
        p = py_loop(dets[0], frame, a.frames)
        c_medians.append(statistics.median(c))
        py_medians.append(statistics.median(p))
        c_min.append(min(c))
        py_min.append(min(p))
    c_ms, py_ms = statistics.median(c_medians) * 1e3, statistics.median(py_medians) * 1e3
    c_fast, py_fast = min(c_min) * 1e3, min(py_min) * 1e3
    print(f"\nper call, 640x640: {a.rounds} alternating rounds of {a.frames} frames, medians")
    print(f"  C program, rf_detect         {c_ms:9.3f} ms   "
          f"({', '.join(f'{v * 1e3:.2f}' for v in c_medians)})")
    print(f"  Python, Detector.detect      {py_ms:9.3f} ms   "
          f"({', '.join(f'{v * 1e3:.2f}' for v in py_medians)})")
    print(f"  difference                   {(py_ms - c_ms) * 1e3:9.1f} us = "
          f"{100 * (py_ms - c_ms) / c_ms:.2f} % of the C call")
    print(f"  fastest call: C {c_fast:.3f} ms, Python {py_fast:.3f} ms, difference "
          f"{(py_fast - c_fast) * 1e3:.1f} us = {100 * (py_fast - c_fast) / c_fast:.2f} %")

    total, inner, py, null, warm = overhead(dets[0], frame, a.frames)
    print(f"\nin this process, median of {a.frames}:")
    print(f"  detect() from Python         {total * 1e3:9.3f} ms")
    print(f"  inside the ctypes call       {inner * 1e3:9.3f} ms")
    print(f"  Python around it             {py * 1e6:9.1f} us")
    print(f"  the ctypes call itself       {null * 1e6:9.1f} us   (rf_detect, NULL context)")
    print(f"  together                     {(py + null) * 1e6:9.1f} us = "
          f"{100 * (py + null) / inner:.2f} % of the C call")
    print(f"  detect()'s Python back to back, no frame in between (warm caches): "
          f"{warm * 1e6:.1f} us")


def threads_benchmark(a, exe, dets, frame):
    """Rounds of: 1 thread, 2 threads (a Detector each), then the same with C processes."""
    rounds = a.rounds
    frames = max(20, int(a.seconds * 30))
    rates = {"py1": [], "py2": [], "c1": [], "c2": []}
    for _ in range(rounds):
        rates["py1"].append(throughput(dets[:1], frame, a.seconds))
        rates["py2"].append(throughput(dets, frame, a.seconds))
        rates["c1"].append(c_throughput(exe, a.model, a.image, 1, frames))
        rates["c2"].append(c_throughput(exe, a.model, a.image, 2, frames))
    med = {k: statistics.median(v) for k, v in rates.items()}
    py_ratios = [t / o for o, t in zip(rates["py1"], rates["py2"])]
    c_ratios = [t / o for o, t in zip(rates["c1"], rates["c2"])]
    print(f"\nthroughput, 640x640, {rounds} rounds of: 1 and 2 Python threads with a Detector "
          f"each (one Model), {a.seconds:g} s each; 1 and 2 C processes (detect_loop), "
          f"{frames} frames each")
    for k, label in (("py1", "Python, 1 thread "), ("py2", "Python, 2 threads"),
                     ("c1", "C, 1 process     "), ("c2", "C, 2 processes   ")):
        print(f"  {label}  {med[k]:7.1f} frames/s   "
              f"({', '.join(f'{v:.1f}' for v in rates[k])})")
    print(f"  Python 2 threads / 1 thread    {statistics.median(py_ratios):5.2f}x  "
          f"(per round: {', '.join(f'{r:.2f}' for r in py_ratios)})")
    print(f"  C 2 processes / 1 process      {statistics.median(c_ratios):5.2f}x  "
          f"(per round: {', '.join(f'{r:.2f}' for r in c_ratios)})")
    print(f"  load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
