"""Model, Detector and Faces: the numpy face of libretinaface."""
from __future__ import annotations

import ctypes
import math
import os
import threading
from typing import (Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple,
                    Union)

import numpy as np

from . import _lib
from ._lib import byref, lib

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
ImageLike = Union[np.ndarray, PathLike]

OUTPUT_NAMES = ("face_rpn_cls_prob", "face_rpn_bbox_pred", "face_rpn_landmark_pred")
BGR_MEAN = (104.0, 117.0, 123.0)


def _parse_name(parse, kind: str, name: str, choices: str) -> int:
    if not isinstance(name, str):
        raise TypeError(f"{kind} must be a string ({choices}), not {type(name).__name__}")
    out = ctypes.c_int()
    if parse(name.encode(), byref(out)) != _lib.RF_OK:
        raise ValueError(f"{kind} '{name}' is not one of {choices}")
    return out.value


def _parse_anchors(name: str) -> int:
    return _parse_name(lib.rf_anchors_parse, "anchors", name, "retinaface, face1mb")


def _parse_kernels(name: str) -> int:
    return _parse_name(lib.rf_kernels_parse, "kernels", name, "auto, reference, avx2, avx512")


def _parse_precision(name: str) -> int:
    return _parse_name(lib.rf_precision_parse, "precision", name, "fp32, bf16, int8")


# the load flag that packs a model for the fastest kernels of a precision
_PRECISION_LOAD_FLAGS = {_lib.RF_PRECISION_FP32: 0, _lib.RF_PRECISION_BF16: _lib.RF_LOAD_BF16,
                         _lib.RF_PRECISION_INT8: _lib.RF_LOAD_INT8}


def _check_channels(channels: str, rgb: bool) -> int:
    if channels not in ("bgr", "rgb"):
        raise ValueError(f"channels must be 'bgr' or 'rgb', not {channels!r}")
    return _lib.RF_PIXELS_RGB if rgb or channels == "rgb" else _lib.RF_PIXELS_BGR


# ------------------------------------------------------------------------------ images

def _image_view(arr: np.ndarray, order: int) -> _lib.rf_image:
    """An rf_image over the array's own pixels (no copy). The array must stay alive while the
    view is used. Rows may be apart by more than 3 * width bytes (a crop of a larger image),
    but the pixels of a row must be packed (strides (stride, 3, 1))."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"image must be a numpy array or a path, not {type(arr).__name__}")
    if arr.dtype != np.uint8:
        raise TypeError(f"image must be uint8 (8-bit pixels), not {arr.dtype}")
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"image must be H x W x 3 (colour pixels), not shape {arr.shape}")
    h, w = arr.shape[0], arr.shape[1]
    if h < 1 or w < 1:
        raise ValueError(f"image is empty (shape {arr.shape})")
    s0, s1, s2 = arr.strides
    if s2 != 1 or s1 != 3 or (h > 1 and s0 < 3 * w):
        raise ValueError(
            f"image pixels are not laid out contiguously (strides {arr.strides}); pass "
            "np.ascontiguousarray(image). For RGB input use channels='rgb' rather than "
            "image[..., ::-1]")
    return _lib.rf_image(arr.__array_interface__["data"][0], w, h, s0 if h > 1 else 3 * w,
                         order)


class _LoadedImage:
    """An image decoded by the library (BGR), freed on close."""

    __slots__ = ("buf", "file")

    def __init__(self, source, err: _lib.rf_error):
        if not isinstance(source, (str, bytes, bytearray, os.PathLike)):
            raise TypeError("image must be a numpy array or a path (or the bytes of a JPEG/PNG "
                            f"file), not {type(source).__name__}")
        self.buf = _lib.rf_image_buf()
        if isinstance(source, (bytes, bytearray)):
            data = bytes(source)
            st = lib.rf_image_load_memory(data, len(data), byref(self.buf), byref(err))
            self.file = None
        else:
            path = _lib.c_path(source)
            st = lib.rf_image_load(path, byref(self.buf), byref(err))
            self.file = os.fsdecode(path)
        _lib.check(st, err)

    def close(self):
        lib.rf_image_buf_free(byref(self.buf))


def load_image(source: Union[PathLike, bytes]) -> np.ndarray:
    """Decodes a JPEG or PNG file (or its bytes) into an H x W x 3 uint8 BGR array, as
    ``cv2.imread`` does (bit-exact for JPEG with libjpeg-turbo)."""
    err = _lib.rf_error()
    img = _LoadedImage(source, err)
    try:
        v = img.buf.image
        rows = (ctypes.c_uint8 * (v.stride * v.height)).from_address(v.pixels)
        return np.frombuffer(rows, np.uint8).reshape(v.height, v.stride)[:, :3 * v.width] \
            .reshape(v.height, v.width, 3).copy()
    finally:
        img.close()


def input_tensor(image: ImageLike, size: Optional[Tuple[int, int]] = None, *,
                 channels: str = "bgr") -> np.ndarray:
    """The network input of one image: float32 [1, 3, H, W], BGR minus the mean (104, 117,
    123), bilinearly resized to size = (width, height) when given. What forward() takes."""
    err = _lib.rf_error()
    loaded = None
    try:
        if isinstance(image, np.ndarray):
            view = _image_view(image, _check_channels(channels, False))
        else:
            loaded = _LoadedImage(image, err)
            view = loaded.buf.image
        w, h = (view.width, view.height) if size is None else _check_size(size, "size")
        out = np.empty((1, 3, h, w), np.float32)
        _lib.check(lib.rf_image_to_input(byref(view), w, h, out.ctypes.data, byref(err)), err)
        return out
    finally:
        if loaded is not None:
            loaded.close()


def _input_policy(input_size, long_side) -> _lib.rf_input_policy:
    """The network size of images: input_size (width, height) stretched, long_side with the
    aspect kept, or (neither) their own."""
    p = _lib.rf_input_policy()
    if input_size is not None and long_side is not None:
        raise ValueError("give input_size or long_side, not both")
    if input_size is not None:
        p.mode = _lib.RF_INPUT_STRETCH
        p.width, p.height = _check_size(input_size, "input_size")
    elif long_side is not None:
        if isinstance(long_side, bool) or not isinstance(long_side, int):
            raise TypeError(f"long_side must be an int, not {type(long_side).__name__}")
        if not 32 <= long_side <= 16384:
            raise ValueError(f"long_side must be in 32..16384, not {long_side}")
        p.mode = _lib.RF_INPUT_LONG_SIDE
        p.long_side = long_side
    else:
        p.mode = _lib.RF_INPUT_ORIGINAL
    return p


def _check_size(size, what: str) -> Tuple[int, int]:
    try:
        w, h = size
        w, h = int(w), int(h)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be (width, height), not {size!r}") from None
    if not (1 <= w <= 16384 and 1 <= h <= 16384):
        raise ValueError(f"{what} ({w}, {h}) is out of range: each side in 1..16384")
    return w, h


# ------------------------------------------------------------------------------ results

class Face(NamedTuple):
    """One face: box (x1, y1, x2, y2), score, landmarks (5, 2): the eye on the image's left,
    the eye on its right, the nose, the left and the right mouth corner."""
    box: np.ndarray
    score: float
    landmarks: np.ndarray


class Faces:
    """The faces found in one image, in descending score order.

    ``boxes`` float32 (N, 4) as x1, y1, x2, y2 in pixels of the image; ``scores`` float32 (N,);
    ``landmarks`` float32 (N, 5, 2); all three are views of ``rows``, one (N, 15) float32
    array in the library's layout (box, score, landmarks), made by one copy from the library.
    ``width``/``height`` are the image's size and ``file`` its path when it was given as one.
    ``len()``, iteration and indexing give Face tuples; ``to_dict()`` is the image record of
    ``retinaface detect --json`` (docs/json.md).
    """

    __slots__ = ("rows", "width", "height", "file")

    def __init__(self, rows: np.ndarray, width: int, height: int, file: Optional[str] = None):
        """rows: (N, 15) float32, each box (4), score, landmarks (10), as rf_face."""
        if not (isinstance(rows, np.ndarray) and rows.dtype == np.float32 and rows.ndim == 2
                and rows.shape[1] == _lib.FACE_FLOATS):
            rows = np.asarray(rows, np.float32).reshape(-1, _lib.FACE_FLOATS)
        self.rows = rows
        self.width = width
        self.height = height
        self.file = file

    @property
    def boxes(self) -> np.ndarray:
        return self.rows[:, 0:4]

    @property
    def scores(self) -> np.ndarray:
        return self.rows[:, 4]

    @property
    def landmarks(self) -> np.ndarray:
        return self.rows[:, 5:15].reshape(-1, 5, 2)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> Face:
        return Face(self.boxes[i], float(self.scores[i]), self.landmarks[i])

    def __iter__(self) -> Iterator[Face]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        where = f" in {self.file}" if self.file is not None else ""
        return f"<Faces: {len(self)} in {self.width}x{self.height}{where}>"

    def __getstate__(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, state):
        for k, v in state.items():
            setattr(self, k, v)

    def to_dict(self) -> dict:
        """The record ``retinaface detect --json`` writes for this image: file (when known),
        width, height and faces, each with box, score and landmarks (Python floats holding
        the float32 values exactly)."""
        d = {"file": self.file} if self.file is not None else {}
        d.update(width=self.width, height=self.height, faces=[
            {"box": [float(v) for v in self.boxes[i]], "score": float(self.scores[i]),
             "landmarks": [[float(x), float(y)] for x, y in self.landmarks[i]]}
            for i in range(len(self))])
        return d

    def to_json(self) -> str:
        """to_dict() as one line of JSON with the CLI's number format (9 significant digits,
        enough to give back the float32 values)."""
        import json
        parts = []
        for i in range(len(self)):
            b = ", ".join(f"{float(v):.9g}" for v in self.boxes[i])
            lm = ", ".join(f"[{float(x):.9g}, {float(y):.9g}]" for x, y in self.landmarks[i])
            parts.append(f'{{"box": [{b}], "score": {float(self.scores[i]):.9g}, '
                         f'"landmarks": [{lm}]}}')
        head = (f'"file": {json.dumps(self.file, ensure_ascii=False)}, '
                if self.file is not None else "")
        return (f'{{{head}"width": {self.width}, "height": {self.height}, '
                f'"faces": [{", ".join(parts)}]}}')


def _faces_from(c_faces: _lib.rf_faces, width: int, height: int,
                file: Optional[str]) -> Faces:
    n = c_faces.count
    rows = np.empty((n, _lib.FACE_FLOATS), np.float32)
    if n:
        ctypes.memmove(rows.__array_interface__["data"][0], c_faces.faces, n * _lib.FACE_BYTES)
    faces = Faces.__new__(Faces)  # rows are known to be right: skip __init__'s checks
    faces.rows, faces.width, faces.height, faces.file = rows, width, height, file
    return faces


# ------------------------------------------------------------------------------ model

class Model:
    """A loaded RetinaFace checkpoint (torch.save .pth, legacy or zip, or a native file made by
    ``retinaface convert``), immutable: share one Model between any number of Detectors and
    threads.

    ``anchors`` is the preset: "retinaface" (biubug6/Pytorch_Retinaface, Open Model Zoo) or
    "face1mb" (Face-Detector-1MB-with-landmark weights). ``keep_reference`` keeps the plain
    weight layout that Detector(kernels="reference") needs. ``path`` may also be the name of a
    model fetched with ``retinaface download`` (resnet50, mobilenet0.25).

    ``precision`` ("fp32", "bf16" or "int8"; None: "fp32") is the precision whose fastest
    kernels the weights are packed for at load; the plain weights are then let go. Detectors
    of that precision (kernels "auto") share the packing; a Detector of another precision, or
    with kernels="reference", packs its own from the plain weights, which needs
    ``keep_reference=True``. Where the CPU lacks that precision's kernels (AVX512_BF16,
    AVX512_VNNI) the model is packed for fp32 and a Detector of that precision raises
    UnsupportedError.
    """

    def __init__(self, path: PathLike, anchors: str = "retinaface", *,
                 keep_reference: bool = False, precision: Optional[str] = None,
                 _data: Optional[bytes] = None):
        self._ptr = None
        # contexts made from the weights (live Detectors): close() frees them after the last
        self._users = 0
        self._closing = False
        self._users_lock = threading.Lock()
        a = _parse_anchors(anchors)
        err = _lib.rf_error()
        ptr = ctypes.c_void_p()
        flags = _lib.RF_LOAD_KEEP_REFERENCE if keep_reference else 0
        if precision is not None:
            flags |= _PRECISION_LOAD_FLAGS[_parse_precision(precision)]
        if _data is not None:
            st = lib.rf_model_load_memory_flags(_data, len(_data), a, flags, byref(ptr),
                                                byref(err))
            self.path = None
        else:
            arg = _lib.c_path(path)
            resolved = ctypes.create_string_buffer(4096)
            st = lib.rf_model_resolve(arg, resolved, 4096, None, byref(err))
            if st == _lib.RF_OK:
                st = lib.rf_model_load_flags(resolved.value, a, flags, byref(ptr), byref(err))
            self.path = os.fsdecode(arg)
        _lib.check(st, err)
        self._ptr = ptr.value

    @classmethod
    def from_bytes(cls, data: bytes, anchors: str = "retinaface", *,
                   keep_reference: bool = False, precision: Optional[str] = None) -> "Model":
        """A model from the bytes of a checkpoint or native file."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        return cls(None, anchors, keep_reference=keep_reference, precision=precision,
                   _data=bytes(data))

    def _handle(self):
        if not self._ptr or self._closing:
            raise ValueError("the model is closed")
        return self._ptr

    def _acquire(self):
        """The weights, for a new context; _release() when the context is freed."""
        with self._users_lock:
            ptr = self._handle()
            self._users += 1
            return ptr

    def _release(self):
        with self._users_lock:
            self._users -= 1
            last = self._closing and self._users == 0
        if last:
            self._free()

    def _free(self):
        ptr, self._ptr = self._ptr, None
        if ptr:
            lib.rf_model_free(ptr)

    @property
    def backbone(self) -> str:
        """'resnet50' or 'mobilenet0.25', recognised from the checkpoint's keys."""
        return lib.rf_backbone_name(lib.rf_model_backbone(self._handle())).decode()

    @property
    def anchors(self) -> str:
        return lib.rf_anchors_name(lib.rf_model_anchors(self._handle())).decode()

    @property
    def parameters(self) -> int:
        """Learned parameters (BatchNorm running statistics not counted)."""
        return int(lib.rf_model_parameters(self._handle()))

    @property
    def has_reference_weights(self) -> bool:
        return bool(lib.rf_model_has_reference_weights(self._handle()))

    @property
    def calibrated(self) -> bool:
        """Whether the model carries int8 calibration ranges (calibrate(), or its native
        file)."""
        return bool(lib.rf_model_calibrated(self._handle()))

    def calibrate(self, images: Iterable[ImageLike],
                  input_size: Optional[Tuple[int, int]] = None, long_side: Optional[int] = None,
                  *, threads: int = 1, channels: str = "bgr") -> int:
        """int8 calibration, as ``retinaface convert --calibration``: runs the images (arrays,
        paths or bytes, as Detector.detect takes them; at the network size input_size or
        long_side give, else their own) through float32 and stores, for every layer that runs
        in int8, the range its input took over them, replacing ranges the model had. int8
        Detectors made afterwards quantize with those ranges (faster; values beyond them are
        clamped: use images like those to be run); save() keeps them. Needs float32 weights
        (a model loaded with precision="int8" also needs keep_reference=True); Detectors of
        this model wait meanwhile. Returns the number of images."""
        policy = _input_policy(input_size, long_side)
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be an int >= 1, not {threads!r}")
        order = _check_channels(channels, False)
        err = _lib.rf_error()
        n = 0
        with self._users_lock:  # no context of the model may run meanwhile
            if self._users:
                raise ValueError("calibrate() needs the model with no Detector open")
            ptr = self._handle()
            lib.rf_model_clear_ranges(ptr)
            for image in images:
                if isinstance(image, np.ndarray):
                    view = _image_view(image, order)
                    st = lib.rf_model_calibrate(ptr, byref(view), 1, byref(policy), threads,
                                                byref(err))
                    _lib.check(st, err)
                else:
                    loaded = _LoadedImage(image, err)
                    try:
                        st = lib.rf_model_calibrate(ptr, byref(loaded.buf.image), 1,
                                                    byref(policy), threads, byref(err))
                        if st:
                            _lib.raise_error(st, err, loaded.file)
                    finally:
                        loaded.close()
                n += 1
        if n == 0:
            raise ValueError("calibrate() needs at least one image")
        return n

    def save(self, path: PathLike, storage: str = "f32") -> None:
        """Writes the model as a native file (as ``retinaface convert``: loads by mmap,
        keeps calibration ranges), whole or not at all. ``storage``: "f32", "f16" or "bf16".
        Needs the plain weights (keep_reference=True, or a model loaded for fp32)."""
        s = _parse_name(lib.rf_storage_parse, "storage", storage, "f32, f16, bf16")
        err = _lib.rf_error()
        _lib.check(lib.rf_model_save_native(self._handle(), _lib.c_path(path), s, byref(err)),
                   err)

    def close(self) -> None:
        """Frees the weights: now, or when the last Detector made from this Model is closed
        (no new Detector can be made from it)."""
        with self._users_lock:
            self._closing = True
            idle = self._users == 0
        if idle:
            self._free()

    def __del__(self):
        # Detectors hold a reference to their Model, so none is left at this point
        if getattr(self, "_ptr", None):
            self._free()

    def __repr__(self) -> str:
        if not self._ptr or self._closing:
            return "<Model (closed)>"
        return f"<Model {self.backbone}, anchors {self.anchors}, {self.path or '(memory)'}>"


# ------------------------------------------------------------------------------ detector

class Detector:
    """A model with its own working memory (one libretinaface context): detect faces in numpy
    images or image files.

    ``model`` is a path (or a downloaded model's name) or a Model to share: several Detectors
    on one Model load the weights once. ``anchors`` applies when model is a path (default
    "retinaface"). ``threads`` is the number of threads of one forward pass, ``kernels`` one of
    auto, reference, avx2, avx512, ``precision`` what the dense convolutions compute in: "fp32"
    (exact), "bf16" (AVX512_BF16) or "int8" (AVX512_VNNI); kernels="reference" runs bf16 and
    int8 on any CPU, slowly. On a CPU without the feature, UnsupportedError names it. A Model
    shared between Detectors of several precisions needs keep_reference=True (see Model); a
    path is loaded packed for this Detector's precision.

    A Detector is used by one thread at a time (calls from several threads wait for each
    other); for parallel work make one Detector per thread. The GIL is released while the
    library runs, so threads with a Detector each run in parallel.
    """

    def __init__(self, model: Union[Model, PathLike], anchors: Optional[str] = None,
                 threads: int = 1, kernels: str = "auto", precision: str = "fp32"):
        self._ctx = None
        self._lock = threading.Lock()
        self._err = _lib.rf_error()
        self._faces = _lib.rf_faces()  # reused: the library keeps its capacity
        self._batch_faces = (_lib.rf_faces * 0)()
        self._policy = _lib.rf_input_policy()
        self._params = lib.rf_detect_params_default()
        self._settings = None  # the detect() arguments _policy and _params were made from
        # the arguments of every rf_detect call but the image, made once
        self._refs = (byref(self._policy), byref(self._params), byref(self._faces),
                      byref(self._err))
        prec = _parse_precision(precision)
        if isinstance(threads, bool) or not isinstance(threads, int):
            raise TypeError(f"threads must be an int, not {type(threads).__name__}")
        if not 1 <= threads <= 256:
            raise ValueError(f"threads must be in 1..256, not {threads}")
        k = _parse_kernels(kernels)
        if isinstance(model, Model):
            if anchors is not None and _parse_anchors(anchors) != lib.rf_model_anchors(
                    model._handle()):
                raise ValueError(f"anchors {anchors!r} differ from the model's "
                                 f"({model.anchors}); they are chosen when a Model is loaded")
            self.model = model
        else:
            self.model = Model(model, anchors or "retinaface",
                               keep_reference=(kernels == "reference"), precision=precision)
        opts = lib.rf_context_options_default()
        opts.threads = threads
        opts.kernels = k
        opts.precision = prec
        err = _lib.rf_error()
        ctx = ctypes.c_void_p()
        weights = self.model._acquire()
        st = lib.rf_context_create(weights, byref(opts), byref(ctx), byref(err))
        if st != _lib.RF_OK:
            self.model._release()
            _lib.raise_error(st, err)
        self._ctx = ctx.value
        self.threads = threads

    @property
    def kernels(self) -> str:
        """The kernels the context runs ("avx512", "avx2" or "reference")."""
        return lib.rf_kernels_name(lib.rf_context_kernels(self._handle())).decode()

    @property
    def precision(self) -> str:
        """What the dense convolutions compute in: "fp32", "bf16" or "int8"."""
        return lib.rf_precision_name(lib.rf_context_precision(self._handle())).decode()

    @property
    def kernel_set(self) -> str:
        """The kernel set the context runs, family and precision: "avx512", "avx512_bf16",
        "reference_int8", ..."""
        return lib.rf_context_kernel_set_name(self._handle()).decode()

    def _handle(self):
        if not self._ctx:
            raise ValueError("the Detector is closed")
        return self._ctx

    def close(self) -> None:
        """Frees the context's memory now (also done when the Detector is collected)."""
        if not hasattr(self, "_lock"):  # __init__ failed before anything was made
            return
        with self._lock:
            ctx, self._ctx = self._ctx, None
            if ctx:
                lib.rf_context_free(ctx)
                lib.rf_faces_free(byref(self._faces))
                for f in self._batch_faces:
                    lib.rf_faces_free(byref(f))
                self.model._release()

    def __del__(self):
        self.close()

    def __enter__(self) -> "Detector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        if not self._ctx:
            return "<Detector (closed)>"
        return f"<Detector {self.model!r}, {self.threads} thread(s), kernels {self.kernels}>"

    # -------------------------------------------------------------- settings as C structures
    def _configure(self, input_size, long_side, threshold, nms, top_k, keep_top_k, nms_offset,
                   network_pixels):
        """Checks detect()'s settings and makes the C structures of a new combination."""
        p = _input_policy(input_size, long_side)
        for name, v in (("threshold", threshold), ("nms", nms)):
            if not isinstance(v, (int, float, np.floating)) or not 0 <= v <= 1:
                raise ValueError(f"{name} must be a number in [0, 1], not {v!r}")
        for name, v in (("top_k", top_k), ("keep_top_k", keep_top_k)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"{name} must be an int >= 0 (0: no limit), not {v!r}")
        if not isinstance(nms_offset, (int, float)) or not math.isfinite(nms_offset):
            raise ValueError(f"nms_offset must be a finite number, not {nms_offset!r}")
        d = lib.rf_detect_params_default()
        # `retinaface detect` runs NMS on the candidates above min(T, 0.02) and reports those
        # above T: the same faces (a box is only ever suppressed by a better-scoring one, and
        # the caps keep the best), so the library gets T itself and there is nothing to filter
        d.score_threshold = float(threshold)
        d.nms_threshold = float(nms)
        d.pre_nms_top_k = int(top_k)
        d.keep_top_k = int(keep_top_k)
        d.nms_offset = float(nms_offset)
        d.nms_in_network_pixels = 1 if network_pixels else 0
        self._policy, self._params = p, d
        self._refs = (byref(p), byref(d), byref(self._faces), byref(self._err))
        self._settings = (input_size, long_side, threshold, nms, top_k, keep_top_k, nms_offset,
                          network_pixels)

    # -------------------------------------------------------------- detection
    def detect(self, image: ImageLike, input_size: Optional[Tuple[int, int]] = None,
               long_side: Optional[int] = None, threshold: float = 0.5, nms: float = 0.4,
               top_k: int = 5000, keep_top_k: int = 750, *, channels: str = "bgr",
               rgb: bool = False, nms_offset: float = 1.0,
               nms_in_network_pixels: bool = False) -> Faces:
        """Faces in one image.

        ``image``: an H x W x 3 uint8 array, BGR as cv2.imread gives (``channels="rgb"`` or
        ``rgb=True`` for PIL/imageio arrays), used in place without a copy; or the path of a
        JPEG/PNG file (str or os.PathLike), or the file's contents as bytes. Rows may be
        padded (a crop of a larger array); pixels within a row must be packed, anything else
        raises ValueError.
        ``input_size`` (width, height) stretches the image to that network input (Open Model
        Zoo: (640, 640)); ``long_side`` scales its longer side to that; neither: the image's
        own size. ``threshold``: faces with score > threshold; ``nms``: IoU above which the
        lower-scoring box is dropped; ``top_k`` candidates before NMS, ``keep_top_k`` faces
        after it (0: no limit). ``nms_offset`` (1: the original repository's +1 in box sizes;
        0: none) and ``nms_in_network_pixels`` (NMS on the network input's pixels, as Open
        Model Zoo) select the protocol. Equal to ``retinaface detect`` with the same options.
        """
        # kept short: this runs once per frame, right after the frame has filled the caches
        order = 0 if channels == "bgr" and not rgb else _check_channels(channels, rgb)
        settings = (input_size, long_side, threshold, nms, top_k, keep_top_k, nms_offset,
                    nms_in_network_pixels)
        with self._lock:
            ctx = self._handle()
            if settings != self._settings:
                self._configure(*settings)
            if isinstance(image, np.ndarray):
                view = _image_view(image, order)
                st = lib.rf_detect(ctx, byref(view), *self._refs)
                if st:
                    _lib.raise_error(st, self._err)
                return _faces_from(self._faces, view.width, view.height, None)
            loaded = _LoadedImage(image, self._err)
            try:
                view = loaded.buf.image
                st = lib.rf_detect(ctx, byref(view), *self._refs)
                if st:
                    _lib.raise_error(st, self._err, loaded.file)
                return _faces_from(self._faces, view.width, view.height, loaded.file)
            finally:
                loaded.close()

    def detect_batch(self, images: Sequence[ImageLike],
                     input_size: Optional[Tuple[int, int]] = (640, 640),
                     long_side: Optional[int] = None, threshold: float = 0.5,
                     nms: float = 0.4, top_k: int = 5000, keep_top_k: int = 750, *,
                     channels: str = "bgr", rgb: bool = False) -> List[Faces]:
        """Faces in several images run as one batch through the network: every image must
        come to the same network size, which input_size (default (640, 640)) guarantees;
        long_side, when given, replaces it. Images are arrays, paths or bytes, as in
        detect(); one Faces per image, in order."""
        if long_side is not None and input_size == (640, 640):
            input_size = None
        order = _check_channels(channels, rgb)
        images = list(images)
        n = len(images)
        settings = (input_size, long_side, threshold, nms, top_k, keep_top_k, 1.0, False)
        with self._lock:
            ctx = self._handle()
            if settings != self._settings:
                self._configure(*settings)
            if n == 0:
                return []
            err = self._err
            if len(self._batch_faces) < n:
                grown = (_lib.rf_faces * n)()
                ctypes.memmove(grown, self._batch_faces, ctypes.sizeof(self._batch_faces))
                self._batch_faces = grown
            views = (_lib.rf_image * n)()
            loaded: List[_LoadedImage] = []
            files: List[Optional[str]] = []
            try:
                for i, im in enumerate(images):
                    if isinstance(im, np.ndarray):
                        views[i] = _image_view(im, order)
                        files.append(None)
                    else:
                        li = _LoadedImage(im, err)
                        loaded.append(li)
                        views[i] = li.buf.image
                        files.append(li.file)
                st = lib.rf_detect_batch(ctx, views, n, byref(self._policy),
                                         byref(self._params), self._batch_faces, byref(err))
                if st:
                    _lib.raise_error(st, err)
                return [_faces_from(self._batch_faces[i], views[i].width,
                                    views[i].height, files[i]) for i in range(n)]
            finally:
                for li in loaded:
                    li.close()

    def forward(self, tensor: np.ndarray) -> Dict[str, np.ndarray]:
        """The raw network on an NCHW float32 array (the Open Model Zoo model's ``data``
        input: BGR, mean (104, 117, 123) subtracted; see input_tensor()). Returns the three
        outputs by name: face_rpn_cls_prob [N, A, 2] (softmax), face_rpn_bbox_pred [N, A, 4],
        face_rpn_landmark_pred [N, A, 10], A = anchors per image (16800 at 640x640)."""
        if not isinstance(tensor, np.ndarray):
            raise TypeError(f"tensor must be a numpy array, not {type(tensor).__name__}")
        if tensor.dtype != np.float32:
            raise TypeError(f"tensor must be float32, not {tensor.dtype}")
        if tensor.ndim != 4 or tensor.shape[1] != 3 or min(tensor.shape) < 1:
            raise ValueError(f"tensor must be N x 3 x H x W, not shape {tensor.shape}")
        if not tensor.flags.c_contiguous:
            raise ValueError("tensor is not C-contiguous; pass np.ascontiguousarray(tensor)")
        n, _, h, w = tensor.shape
        with self._lock:
            ctx = self._handle()
            err = self._err
            _lib.check(lib.rf_forward(ctx, tensor.ctypes.data, n, h, w, byref(err)), err)
            o = _lib.rf_outputs()
            _lib.check(lib.rf_context_outputs(ctx, byref(o), byref(err)), err)
            out = {}
            for name, ptr, k in zip(OUTPUT_NAMES, (o.cls_prob, o.bbox_pred, o.landmark_pred),
                                    (2, 4, 10)):
                arr = np.empty((o.batch, o.anchors, k), np.float32)
                ctypes.memmove(arr.ctypes.data, ptr, arr.nbytes)
                out[name] = arr
            return out

    def align(self, image: ImageLike, faces: Faces, *, channels: str = "bgr",
              rgb: bool = False) -> np.ndarray:
        """Aligned face chips, an (N, 112, 112, 3) uint8 array: one per face, by the
        least-squares similarity transform of its five landmarks onto the ArcFace template
        (rf_align_face), in the image's channel order. ``image`` as in detect(); ``faces``
        as detect() returned them for it."""
        order = _check_channels(channels, rgb)
        landmarks = np.ascontiguousarray(faces.landmarks, dtype=np.float32).reshape(-1, 10)
        chips = np.empty((len(landmarks), 112, 112, 3), np.uint8)
        err = _lib.rf_error()
        loaded = None
        if isinstance(image, np.ndarray):
            view = _image_view(image, order)
        else:
            loaded = _LoadedImage(image, err)
            view = loaded.buf.image
        chip = _lib.rf_image_buf()
        try:
            for i, points in enumerate(landmarks):
                _lib.check(lib.rf_align_face(byref(view), points.ctypes.data, byref(chip),
                                             byref(err)), err)
                rows = np.ctypeslib.as_array(chip.data, shape=(112 * chip.image.stride,))
                chips[i] = rows.reshape(112, chip.image.stride)[:, :112 * 3].reshape(112, 112, 3)
        finally:
            lib.rf_image_buf_free(byref(chip))
            if loaded is not None:
                loaded.close()
        return chips

