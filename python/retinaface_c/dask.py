"""retinaface_c.dask: face detection over many image files on a dask.distributed cluster.

    from distributed import Client, LocalCluster
    from retinaface_c.dask import detect_files, write_wider, write_jsonl

    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:
        faces = detect_files(paths, "mobilenet0.25_Final.pth", client=client)  # list of Faces
        write_wider(paths, "mobilenet0.25_Final.pth", "eval_out", client=client)
        write_jsonl(paths, "mobilenet0.25_Final.pth", "faces.jsonl", client=client)

The same code runs on a real cluster (`dask scheduler`, `dask worker tcp://HOST:8786` on each
machine, `Client("tcp://HOST:8786")`). Paths (model, images, output folder of write_wider) are
opened by the workers, so they must be valid where the workers run: a shared file system.

Each worker process loads a model once (worker_model_loads() counts the loads) and keeps one
Detector per worker thread. Paths go out in chunks, one task per chunk; results come back in
the order of `paths`. write_wider writes the result files on the workers and sends back only
detection counts; write_jsonl streams the lines to one file on the client in order, with a
bounded number of chunks in flight, so neither holds every result in memory.
"""
from __future__ import annotations

import inspect
import math
import os
import stat
import tempfile
import threading
from collections import deque
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence

from . import wider
from ._core import Detector, Faces, Model, load_image

try:
    import distributed
except ImportError as e:  # pragma: no cover - depends on the installation
    raise ImportError("retinaface_c.dask needs dask.distributed (Debian: python3-distributed; "
                      "pip: distributed)") from e

_DETECT_OPTIONS = set(inspect.signature(Detector.detect).parameters) - {"self", "image"}

class _Spec(NamedTuple):
    """What a worker needs to make its Detector (sent with every task; small)."""
    model: str
    anchors: str
    threads: int
    kernels: str


# ------------------------------------------------------------------------------ worker side

_lock = threading.Lock()
_models: dict = {}
_model_loads = 0
_local = threading.local()


def worker_model_loads() -> int:
    """How many models this process has loaded for retinaface_c.dask tasks (for
    ``client.run(worker_model_loads)``: 1 per worker after a run with one model)."""
    return _model_loads


def _file_version(path: str):
    """Size and modification time of a model file (None for a downloaded model's name), so
    that a file replaced between two runs is loaded again."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _detector(spec: _Spec) -> Detector:
    """This thread's Detector for spec; the model is loaded once per process."""
    global _model_loads
    dets = getattr(_local, "detectors", None)
    if dets is None:
        dets = _local.detectors = {}
    version = _file_version(spec.model)
    det = dets.get((spec, version))
    if det is None:
        key = (spec.model, version, spec.anchors, spec.kernels == "reference")
        with _lock:
            model = _models.get(key)
            if model is None:
                model = Model(spec.model, spec.anchors, keep_reference=key[3])
                _models[key] = model
                _model_loads += 1
        det = dets[(spec, version)] = Detector(model, threads=spec.threads,
                                               kernels=spec.kernels)
    return det


def _detect_chunk(spec: _Spec, paths: List[str], options: dict) -> List[Faces]:
    det = _detector(spec)
    return [det.detect(p, **options) for p in paths]


def _jsonl_chunk(spec: _Spec, paths: List[str], options: dict) -> str:
    det = _detector(spec)
    return "".join(det.detect(p, **options).to_json() + "\n" for p in paths)


def _wider_chunk(spec: _Spec, paths: List[str], out_dir: str, protocols: List[str],
                 options: dict) -> List[Dict[str, int]]:
    det = _detector(spec)
    counts = []
    for p in paths:
        # decoded once when both protocols run on it, as `retinaface eval` does
        image = load_image(p) if len(protocols) > 1 else p
        n = {}
        for protocol in protocols:
            boxes = wider.result_boxes(det.detect(image, **options[protocol]), protocol)
            wider.write_result(os.path.join(out_dir, wider.FOLDERS[protocol]), p, boxes)
            n[protocol] = len(boxes)
        counts.append(n)
    return counts


# ------------------------------------------------------------------------------ client side

def _client(client):
    if client is not None:
        return client
    try:
        return distributed.get_client()
    except ValueError:
        raise ValueError("no Dask client: pass client=, or create one first "
                         "(distributed.Client(...))") from None


def _paths(paths: Iterable) -> List[str]:
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError("paths must be a list of image paths, not a single path")
    return [os.fsdecode(p) for p in paths]


def _spec(model, anchors, threads, kernels) -> _Spec:
    if isinstance(model, Model):
        raise TypeError("model must be a path the workers can open (a loaded Model stays in "
                        "this process)")
    return _Spec(os.fsdecode(model), anchors, threads, kernels)


def _check_options(options: dict) -> dict:
    unknown = set(options) - _DETECT_OPTIONS
    if unknown:
        raise TypeError(f"unknown detect options: {', '.join(sorted(unknown))} (known: "
                        f"{', '.join(sorted(_DETECT_OPTIONS))})")
    return options


def _chunks(paths: Sequence[str], client, chunk_size: Optional[int]) -> List[List[str]]:
    if chunk_size is None:
        threads = max(1, sum(client.nthreads().values()))
        # 8 chunks or more per worker thread keeps the tail short; 8 images per task keep
        # the per-task cost of the scheduler small against a detection
        chunk_size = max(1, min(8, math.ceil(len(paths) / (8 * threads))))
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, not {chunk_size!r}")
    return [list(paths[i:i + chunk_size]) for i in range(0, len(paths), chunk_size)]


def detect_files(paths: Sequence, model, client=None, anchors: str = "retinaface", *,
                 threads: int = 1, kernels: str = "auto", chunk_size: Optional[int] = None,
                 **detect_kwargs: Any) -> List[Faces]:
    """Detects faces in every image of `paths` on the cluster of `client` (default: the
    current client) and returns one Faces per path, in the order of `paths`.

    `model` is a checkpoint path valid on the workers; each worker process loads it once.
    `threads`/`kernels` are each worker thread's Detector settings; detect_kwargs are those of
    Detector.detect (input_size, long_side, threshold, nms, top_k, keep_top_k, ...).
    `chunk_size` images go in one task (default: up to 8, at least 8 tasks per worker
    thread). An unreadable image raises its library error here (retinaface_c.Error)."""
    client = _client(client)
    spec = _spec(model, anchors, threads, kernels)
    options = _check_options(detect_kwargs)
    chunks = _chunks(_paths(paths), client, chunk_size)
    futures = client.map(_detect_chunk, [spec] * len(chunks), chunks,
                         [options] * len(chunks), pure=False)
    try:
        return [faces for part in client.gather(futures) for faces in part]
    finally:
        client.cancel(futures)


def write_wider(paths: Sequence, model, out_dir, client=None, anchors: str = "retinaface", *,
                protocol: str = "both", threads: int = 1, kernels: str = "auto",
                chunk_size: Optional[int] = None,
                **detect_kwargs: Any) -> List[Dict[str, int]]:
    """Writes the WIDER FACE result files of the images <...>/<event>/<name>.jpg of `paths`
    exactly as `retinaface eval --out out_dir` does: out_dir/predictions/<event>/<name>.txt
    for the official protocol, out_dir/predictions_omz/... for Open Model Zoo's (`protocol`
    "official", "omz" or "both"). The workers write them (out_dir must be valid where they
    run); only the counts come back. Score them with
    `retinaface eval --predictions out_dir --gt WIDER_DIR`.

    detect_kwargs change the official protocol's settings (wider.PROTOCOLS), e.g.
    long_side=640, as the CLI's input options do; the OMZ protocol's are fixed. Returns, per
    image in the order of `paths`, the number of detections written for each protocol."""
    client = _client(client)
    protocols = ["official", "omz"] if protocol == "both" else [protocol]
    if protocol != "both" and protocol not in wider.PROTOCOLS:
        raise ValueError(f"protocol must be 'official', 'omz' or 'both', not {protocol!r}")
    spec = _spec(model, anchors, threads, kernels)
    official = dict(wider.PROTOCOLS["official"])
    official.update(_check_options(detect_kwargs))
    options = {"official": official, "omz": dict(wider.PROTOCOLS["omz"])}
    chunks = _chunks(_paths(paths), client, chunk_size)
    out = os.fsdecode(out_dir)
    futures = client.map(_wider_chunk, [spec] * len(chunks), chunks, [out] * len(chunks),
                         [protocols] * len(chunks), [options] * len(chunks), pure=False)
    try:
        return [n for part in client.gather(futures) for n in part]
    finally:
        client.cancel(futures)


def write_jsonl(paths: Sequence, model, out, client=None, anchors: str = "retinaface", *,
                threads: int = 1, kernels: str = "auto", chunk_size: Optional[int] = None,
                window: Optional[int] = None, **detect_kwargs: Any) -> int:
    """Writes one JSON line per image of `paths`, in their order, to `out` (a path, or an open
    text file): the image record of `retinaface detect --json` (file, width, height, faces).
    The workers format the lines; the client writes each chunk as soon as it and those before
    it are done, with at most `window` chunks in flight (default: 4 per worker thread), so
    memory stays bounded however many images there are. A path is written beside and renamed
    into place when complete (a symlink is followed; a FIFO or device is written in place).
    Returns the number of lines written."""
    client = _client(client)
    spec = _spec(model, anchors, threads, kernels)
    options = _check_options(detect_kwargs)
    chunks = _chunks(_paths(paths), client, chunk_size)
    if window is None:
        window = 4 * max(1, sum(client.nthreads().values()))
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be an int >= 1, not {window!r}")
    if hasattr(out, "write"):
        return _stream_lines(client, spec, chunks, options, window, out)
    with _OutputFile(out) as f:
        return _stream_lines(client, spec, chunks, options, window, f)


def _stream_lines(client, spec, chunks, options, window, f) -> int:
    pending: deque = deque()
    todo = iter(chunks)
    lines = 0
    try:
        for chunk in todo:
            pending.append((client.submit(_jsonl_chunk, spec, chunk, options, pure=False),
                            len(chunk)))
            if len(pending) >= window:
                break
        while pending:
            future, n = pending.popleft()
            f.write(future.result())
            future.release()
            lines += n
            chunk = next(todo, None)
            if chunk is not None:
                pending.append((client.submit(_jsonl_chunk, spec, chunk, options,
                                              pure=False), len(chunk)))
        return lines
    finally:
        for future, _ in pending:
            future.cancel()


class _OutputFile:
    """A text file written in full or not at all: a regular file (new, or the target of a
    symlink) is written to a temporary file beside it and renamed into place on success;
    a FIFO or device is written in place. New files get 0666 & ~umask."""

    def __init__(self, path):
        self.path = os.path.realpath(os.fsdecode(path))
        self.tmp = None
        self.f = None

    def __enter__(self):
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(f"{self.path}: is a directory")
            self.f = open(self.path, "w", encoding="utf-8")
            return self.f
        d, base = os.path.split(self.path)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=d or ".")
        if st is not None:
            mode = stat.S_IMODE(st.st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.fchmod(fd, mode)
        self.f = os.fdopen(fd, "w", encoding="utf-8")
        return self.f

    def __exit__(self, exc_type, exc, tb):
        try:
            self.f.close()
        except BaseException:
            if self.tmp:
                os.unlink(self.tmp)
            raise
        if self.tmp:
            if exc_type is None:
                os.replace(self.tmp, self.path)
            else:
                os.unlink(self.tmp)
        return False


__all__ = ["detect_files", "write_wider", "write_jsonl", "worker_model_loads"]
