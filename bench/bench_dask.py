#!/usr/bin/env python3
"""bench_dask.py - WIDER FACE over a Dask LocalCluster against `retinaface eval --threads 2`:
the same AP, and the images per second of each.

    /usr/bin/python3 bench/bench_dask.py [--model M] [--rounds R] [--workers N] [--limit N]

Uses the installed retinaface_c, or else the one in python/ with build/libretinaface.so.0.
Rounds alternate, in turns of who goes first, the CLI, `retinaface eval -m M --threads N
--out DIR` (both protocols, as its default), and retinaface_c.dask.write_wider over the same
images (both protocols, result files written by the workers) on a LocalCluster (127.0.0.1, N
worker processes of 1 thread, Dask's default configuration), started before its run (not
timed) and closed after it. The Dask result files are scored by `retinaface eval
--predictions`. Images/s are the medians over the rounds; the APs must equal the CLI's, and
the result files its files byte for byte.
"""
import argparse
import filecmp
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if importlib.util.find_spec("retinaface_c") is None:  # not installed: the one of this tree
    sys.path.insert(0, os.path.join(ROOT, "python"))
    os.environ.setdefault("RETINAFACE_LIBRARY", os.path.join(ROOT, "build", "libretinaface.so.0"))
from distributed import Client, LocalCluster  # noqa: E402

from retinaface_c.dask import write_wider  # noqa: E402


def ap_of(summary_json):
    with open(summary_json) as f:
        s = json.load(f)
    return {k: s[k] for k in ("easy", "medium", "hard", "omz_ap") if k in s}


def same_tree(a, b):
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    return not mismatch and not errors and all(same_tree(os.path.join(a, d), os.path.join(b, d))
                                               for d in cmp.common_dirs)


def main():
    shared = os.environ.get("RETINAFACE_TESTDATA", os.path.join(ROOT, "..", "shared"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(shared, "models", "mobilenet0.25_Final.pth"))
    ap.add_argument("--cli", default=os.path.join(ROOT, "build", "retinaface"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="only the first N images")
    a = ap.parse_args()
    wf = os.path.join(shared, "data", "widerface")
    images = os.path.join(wf, "val", "images")
    paths = sorted(os.path.join(images, e, f) for e in os.listdir(images)
                   for f in os.listdir(os.path.join(images, e)) if f.endswith(".jpg"))
    if a.limit:
        paths = paths[:a.limit]
    with tempfile.TemporaryDirectory() as work:
        if a.limit:  # the CLI finds images in a folder: give it one with just these
            images = os.path.join(work, "images")
            for p in paths:
                d = os.path.join(images, os.path.basename(os.path.dirname(p)))
                os.makedirs(d, exist_ok=True)
                os.symlink(p, os.path.join(d, os.path.basename(p)))
        print(f"{len(paths)} WIDER FACE val images, {os.path.basename(a.model)}, "
              f"{a.workers} workers x 1 thread against --threads {a.workers}, {os.cpu_count()} "
              f"CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
        times = {"cli": [], "dask": []}

        def run_cli(r):
            out = os.path.join(work, f"cli{r}")
            t0 = time.perf_counter()
            subprocess.run([a.cli, "eval", "-m", a.model, "--gt", wf, "--images", images,
                            "--threads", str(a.workers), "--out", out, "--json", out + ".json",
                            "-q"], check=True, stdout=subprocess.DEVNULL)
            times["cli"].append(time.perf_counter() - t0)
            return f"CLI {times['cli'][-1]:.2f} s"

        def run_dask(r):
            out = os.path.join(work, f"dask{r}")
            with LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                              host="127.0.0.1", dashboard_address=None, local_directory=work,
                              silence_logs=40) as cluster, Client(cluster) as client:
                t0 = time.perf_counter()
                write_wider(paths, a.model, out, client=client)
                times["dask"].append(time.perf_counter() - t0)
            subprocess.run([a.cli, "eval", "--predictions", out, "--gt", wf, "--json",
                            out + ".json", "-q"], check=True, stdout=subprocess.DEVNULL)
            return f"Dask {times['dask'][-1]:.2f} s"

        for r in range(a.rounds):
            line = [run_cli(r), run_dask(r)] if r % 2 == 0 else [run_dask(r), run_cli(r)]
            cli_out, out = os.path.join(work, f"cli{r}"), os.path.join(work, f"dask{r}")
            if not (ap_of(cli_out + ".json") == ap_of(out + ".json") and all(
                    same_tree(os.path.join(cli_out, d), os.path.join(out, d))
                    for d in ("predictions", "predictions_omz"))):
                sys.exit("bench_dask: the Dask results differ from the CLI's")
            print(f"round {r + 1}: " + ", ".join(line) + "; AP and result files equal; load "
                  f"average {os.getloadavg()[0]:.2f}", flush=True)
        aps = ap_of(os.path.join(work, "cli0.json"))
    n = len(paths)
    cli_rate = n / statistics.median(times["cli"])
    print("\nAP (%): " + ", ".join(f"{k} {100 * v:.2f}" for k, v in aps.items()) +
          " (CLI and Dask alike)")
    print(f"retinaface eval --threads {a.workers}:      {cli_rate:6.2f} images/s "
          f"(median of {a.rounds}: {statistics.median(times['cli']):.2f} s)")
    rate = n / statistics.median(times["dask"])
    print(f"Dask LocalCluster {a.workers}x1:        {rate:6.2f} images/s (median of {a.rounds}: "
          f"{statistics.median(times['dask']):.2f} s) = {100 * rate / cli_rate:.1f} % of the CLI")
    ratios = [c / d for c, d in zip(times["cli"], times["dask"])]
    print(f"per round, Dask images/s / CLI images/s: {', '.join(f'{x:.2f}' for x in ratios)}")


if __name__ == "__main__":
    main()
