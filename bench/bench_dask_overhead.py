#!/usr/bin/env python3
"""bench_dask_overhead.py - the CPU time a Dask LocalCluster spends besides the detections:
the threads of the workers and of the scheduler/client process other than those detecting,
as a share of the detecting threads' CPU time, with Dask's default configuration and with
retinaface_c.dask.LOW_OVERHEAD_CONFIG. CPU time, unlike wall time, hardly depends on what
else the machine is running.

    /usr/bin/python3 bench/bench_dask_overhead.py [--images N] [--rounds R] [--workers W]

Uses the installed retinaface_c, or else the one in python/ with build/libretinaface.so.0.
Each run: a fresh LocalCluster (127.0.0.1, W workers x 1 thread), write_wider over the first
N WIDER FACE val images once untimed (imports, model loads), then again, measured.
"""
import argparse
import importlib.util
import os
import sys
import tempfile
import time

sys.dont_write_bytecode = True
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if importlib.util.find_spec("retinaface_c") is None:  # not installed: the one of this tree
    sys.path.insert(0, os.path.join(ROOT, "python"))
    os.environ.setdefault("RETINAFACE_LIBRARY", os.path.join(ROOT, "build", "libretinaface.so.0"))
import dask  # noqa: E402
import psutil  # noqa: E402  (a dependency of distributed)
from distributed import Client, LocalCluster  # noqa: E402

from retinaface_c.dask import LOW_OVERHEAD_CONFIG, write_wider  # noqa: E402


def thread_cpu():
    """CPU seconds of each thread of this process, by thread name."""
    import threading
    names = {t.native_id: t.name for t in threading.enumerate()}
    return {names.get(t.id, str(t.id)): t.user_time + t.system_time
            for t in psutil.Process().threads()}


def main():
    shared = os.environ.get("RETINAFACE_TESTDATA", os.path.join(ROOT, "..", "shared"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(shared, "models", "mobilenet0.25_Final.pth"))
    ap.add_argument("--images", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    root = os.path.join(shared, "data", "widerface", "val", "images")
    paths = sorted(os.path.join(root, e, f) for e in os.listdir(root)
                   for f in os.listdir(os.path.join(root, e)) if f.endswith(".jpg"))[:a.images]
    print(f"{len(paths)} WIDER FACE val images, both protocols, {a.workers} workers x 1 thread, "
          f"load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as work:
        for r in range(a.rounds):
            for name, config in (("default", {}), ("low-overhead", LOW_OVERHEAD_CONFIG)):
                with dask.config.set(config), \
                        LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                                     host="127.0.0.1", dashboard_address=None,
                                     local_directory=work, silence_logs=40) as cluster, \
                        Client(cluster) as client:
                    write_wider(paths, a.model, os.path.join(work, "warm"), client=client)
                    before, here0 = client.run(thread_cpu), thread_cpu()
                    t0 = time.perf_counter()
                    write_wider(paths, a.model, os.path.join(work, name), client=client)
                    wall = time.perf_counter() - t0
                    after, here1 = client.run(thread_cpu), thread_cpu()
                detect = other = 0.0
                for w in after:
                    for thread, t in after[w].items():
                        d = t - before[w].get(thread, 0.0)
                        if thread.startswith("Dask-Default-Threads"):  # the task threads
                            detect += d
                        else:
                            other += d
                other += sum(t - here0.get(thread, 0.0) for thread, t in here1.items())
                print(f"round {r + 1}, {name + ' config:':21} detecting threads {detect:6.2f} "
                      f"CPU s, all other threads {other:5.2f} CPU s = {100 * other / detect:4.1f} %"
                      f" (wall {wall:.2f} s)", flush=True)


if __name__ == "__main__":
    main()
