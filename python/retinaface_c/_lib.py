"""ctypes declarations of libretinaface's public API (include/retinaface*.h) and its errors.

Every structure here mirrors the header field by field; tests/test_layout.py compiles a probe
against the headers and checks sizes and offsets, so a change to a header cannot go unnoticed.
ctypes releases the GIL around every foreign call of a CDLL, so detection runs in parallel with
other Python threads.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (POINTER, Structure, byref, c_char, c_char_p, c_double, c_float, c_int,
                    c_int64, c_size_t, c_uint, c_uint8, c_void_p)

# ------------------------------------------------------------------------------ errors

RF_OK = 0
_STATUS_NAMES = ("RF_OK", "RF_E_ARG", "RF_E_IO", "RF_E_FORMAT", "RF_E_MODEL", "RF_E_NOMEM",
                 "RF_E_LIMIT", "RF_E_UNSUPPORTED", "RF_E_NETWORK")


class Error(Exception):
    """An error reported by libretinaface: ``str(e)`` is the library's one-line message and
    ``e.status`` the name of its status code (``"RF_E_IO"``, ...). Each status has its own
    subclass, which also derives from the matching built-in exception."""

    status = "RF_E_UNKNOWN"

    def __init__(self, message: str):
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.status


class ArgumentError(Error, ValueError):
    """RF_E_ARG: an argument is invalid."""
    status = "RF_E_ARG"


class FileError(Error, OSError):
    """RF_E_IO: a file cannot be opened, read or written."""
    status = "RF_E_IO"


class FormatError(Error, ValueError):
    """RF_E_FORMAT: a file is malformed, truncated or of an unsupported kind."""
    status = "RF_E_FORMAT"


class ModelError(Error, ValueError):
    """RF_E_MODEL: a checkpoint does not hold the tensors this network needs."""
    status = "RF_E_MODEL"


class OutOfMemoryError(Error, MemoryError):
    """RF_E_NOMEM: out of memory."""
    status = "RF_E_NOMEM"


class LimitError(Error, ValueError):
    """RF_E_LIMIT: a documented limit was exceeded (image pixels, tensor size, ...)."""
    status = "RF_E_LIMIT"


class UnsupportedError(Error, NotImplementedError):
    """RF_E_UNSUPPORTED: valid, but not supported here (e.g. a CPU feature missing)."""
    status = "RF_E_UNSUPPORTED"


class NetworkError(Error, ConnectionError):
    """RF_E_NETWORK: a download failed."""
    status = "RF_E_NETWORK"


_ERROR_CLASSES = {1: ArgumentError, 2: FileError, 3: FormatError, 4: ModelError,
                  5: OutOfMemoryError, 6: LimitError, 7: UnsupportedError, 8: NetworkError}


# ------------------------------------------------------------------------------ structures

class rf_error(Structure):
    _fields_ = [("status", c_int), ("message", c_char * 512)]


class rf_context_options(Structure):
    _fields_ = [("threads", c_int), ("kernels", c_int), ("precision", c_int)]


class rf_image(Structure):
    _fields_ = [("pixels", c_void_p), ("width", c_int), ("height", c_int),
                ("stride", c_size_t), ("order", c_int)]


class rf_image_buf(Structure):
    _fields_ = [("image", rf_image), ("data", POINTER(c_uint8))]


class rf_face(Structure):
    _fields_ = [("box", c_float * 4), ("score", c_float), ("landmarks", c_float * 10)]


class rf_faces(Structure):
    _fields_ = [("faces", c_void_p), ("count", c_int), ("capacity", c_int)]


class rf_input_policy(Structure):
    _fields_ = [("mode", c_int), ("width", c_int), ("height", c_int), ("long_side", c_int)]


class rf_detect_params(Structure):
    _fields_ = [("score_threshold", c_float), ("nms_threshold", c_float),
                ("pre_nms_top_k", c_int), ("keep_top_k", c_int), ("nms_offset", c_float),
                ("nms_in_network_pixels", c_int)]


class rf_outputs(Structure):
    _fields_ = [("batch", c_int), ("height", c_int), ("width", c_int), ("anchors", c_int64),
                ("cls_prob", c_void_p), ("bbox_pred", c_void_p), ("landmark_pred", c_void_p)]


class rf_wider_box(Structure):
    _fields_ = [("x", c_double), ("y", c_double), ("w", c_double), ("h", c_double),
                ("score", c_double)]


# Every structure the binding passes across, by header name (for the layout test).
STRUCTS = {cls.__name__: cls for cls in (
    rf_error, rf_context_options, rf_image, rf_image_buf, rf_face, rf_faces, rf_input_policy,
    rf_detect_params, rf_outputs, rf_wider_box)}

RF_INPUT_ORIGINAL, RF_INPUT_STRETCH, RF_INPUT_LONG_SIDE = 0, 1, 2
RF_PIXELS_BGR, RF_PIXELS_RGB = 0, 1
RF_LOAD_KEEP_REFERENCE = 1
RF_LOAD_BF16, RF_LOAD_INT8 = 2, 4
RF_PRECISION_FP32, RF_PRECISION_BF16, RF_PRECISION_INT8 = 0, 1, 2
FACE_FLOATS = 15  # box 4, score 1, landmarks 10
FACE_BYTES = ctypes.sizeof(rf_face)

# ------------------------------------------------------------------------------ functions

_P = POINTER
_ERR = _P(rf_error)
# name: (restype, argtypes); all from include/retinaface.h, retinaface_eval.h, retinaface_tools.h
_FUNCTIONS = {
    "rf_status_name": (c_char_p, [c_int]),
    "rf_model_load_flags": (c_int, [c_char_p, c_int, c_uint, _P(c_void_p), _ERR]),
    "rf_model_load_memory_flags": (c_int, [c_void_p, c_size_t, c_int, c_uint, _P(c_void_p),
                                           _ERR]),
    "rf_model_free": (None, [c_void_p]),
    "rf_model_backbone": (c_int, [c_void_p]),
    "rf_model_anchors": (c_int, [c_void_p]),
    "rf_model_parameters": (c_int64, [c_void_p]),
    "rf_model_has_reference_weights": (c_int, [c_void_p]),
    "rf_model_calibrate": (c_int, [c_void_p, _P(rf_image), c_int, _P(rf_input_policy), c_int,
                                   _ERR]),
    "rf_model_calibrated": (c_int, [c_void_p]),
    "rf_model_clear_ranges": (None, [c_void_p]),
    "rf_model_save_native": (c_int, [c_void_p, c_char_p, c_int, _ERR]),
    "rf_storage_parse": (c_int, [c_char_p, _P(c_int)]),
    "rf_backbone_name": (c_char_p, [c_int]),
    "rf_anchors_name": (c_char_p, [c_int]),
    "rf_anchors_parse": (c_int, [c_char_p, _P(c_int)]),
    "rf_context_options_default": (rf_context_options, []),
    "rf_context_create": (c_int, [c_void_p, _P(rf_context_options), _P(c_void_p), _ERR]),
    "rf_context_free": (None, [c_void_p]),
    "rf_kernels_name": (c_char_p, [c_int]),
    "rf_kernels_parse": (c_int, [c_char_p, _P(c_int)]),
    "rf_context_kernels": (c_int, [c_void_p]),
    "rf_precision_name": (c_char_p, [c_int]),
    "rf_precision_parse": (c_int, [c_char_p, _P(c_int)]),
    "rf_context_precision": (c_int, [c_void_p]),
    "rf_context_kernel_set_name": (c_char_p, [c_void_p]),
    "rf_image_load": (c_int, [c_char_p, _P(rf_image_buf), _ERR]),
    "rf_image_load_memory": (c_int, [c_void_p, c_size_t, _P(rf_image_buf), _ERR]),
    "rf_image_buf_free": (None, [_P(rf_image_buf)]),
    "rf_align_face": (c_int, [_P(rf_image), c_void_p, _P(rf_image_buf), _ERR]),
    "rf_faces_free": (None, [_P(rf_faces)]),
    "rf_detect_params_default": (rf_detect_params, []),
    "rf_input_geometry": (c_int, [_P(rf_input_policy), c_int, c_int, _P(c_int), _P(c_int),
                                  _P(c_float), _P(c_float), _ERR]),
    "rf_detect": (c_int, [c_void_p, _P(rf_image), _P(rf_input_policy), _P(rf_detect_params),
                          _P(rf_faces), _ERR]),
    "rf_detect_batch": (c_int, [c_void_p, c_void_p, c_int, _P(rf_input_policy),
                                _P(rf_detect_params), c_void_p, _ERR]),
    "rf_anchor_count": (c_int64, [c_int, c_int]),
    "rf_forward": (c_int, [c_void_p, c_void_p, c_int, c_int, c_int, _ERR]),
    "rf_context_outputs": (c_int, [c_void_p, _P(rf_outputs), _ERR]),
    "rf_image_to_input": (c_int, [_P(rf_image), c_int, c_int, c_void_p, _ERR]),
    "rf_model_resolve": (c_int, [c_char_p, c_char_p, c_size_t, c_void_p, _ERR]),
    "rf_wider_box_official": (rf_wider_box, [c_void_p]),
    "rf_wider_box_omz": (rf_wider_box, [c_void_p]),
    "rf_wider_boxes_sort": (c_int, [c_void_p, c_int, _ERR]),
    "rf_wider_result_write": (c_int, [c_char_p, c_char_p, c_char_p, c_void_p, c_int, _ERR]),
}
# Short calls made many times per image (one per face): bound a second time through a PyDLL,
# which keeps the GIL, so that a worker thread does not hand the GIL over to other Python
# threads (and wait to get it back) hundreds of times per image.
_KEEP_GIL = ("rf_wider_box_official", "rf_wider_box_omz")

LIBRARY_FILE = "libretinaface.so.0"


def _find_library() -> str:
    """$RETINAFACE_LIBRARY, else the copy shipped inside this package, else the system's."""
    env = os.environ.get("RETINAFACE_LIBRARY")
    if env:
        return env
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), LIBRARY_FILE)
    if os.path.exists(here):
        return here
    found = ctypes.util.find_library("retinaface")
    if found:
        return found
    raise ImportError(
        "retinaface_c: libretinaface not found: it should be inside the package (reinstall "
        "with `python3 -m pip install --no-build-isolation ./python`), or set "
        "RETINAFACE_LIBRARY to the path of libretinaface.so")


def _declare(dll, names, path):
    for name in names:
        restype, argtypes = _FUNCTIONS[name]
        try:
            fn = getattr(dll, name)
        except AttributeError:
            raise ImportError(f"retinaface_c: {path} has no {name}: the library is older "
                              "than this package; rebuild both from one source tree") from None
        fn.restype = restype
        fn.argtypes = argtypes


def _load():
    path = _find_library()
    try:
        lib = ctypes.CDLL(path)
        gil_lib = ctypes.PyDLL(path)  # the same loaded library
    except OSError as e:
        raise ImportError(f"retinaface_c: cannot load {path}: {e}") from e
    _declare(lib, _FUNCTIONS, path)
    _declare(gil_lib, _KEEP_GIL, path)
    return lib, gil_lib, path


# lib releases the GIL around every call; gil_lib (only the _KEEP_GIL functions) keeps it
lib, gil_lib, library_path = _load()


def has(name: str) -> bool:
    """Whether the loaded library exports the function `name`."""
    return hasattr(lib, name)


def status_name(status: int) -> str:
    return _STATUS_NAMES[status] if 0 <= status < len(_STATUS_NAMES) else f"status {status}"


def raise_error(status: int, err: rf_error | None = None, context: str | None = None):
    """Raises the exception for a non-zero status, with the library's message."""
    message = err.message.decode("utf-8", "replace") if err is not None else ""
    if not message:
        message = status_name(status)
    if context:
        message = f"{context}: {message}"
    raise _ERROR_CLASSES.get(status, Error)(message)


def check(status: int, err: rf_error | None = None, context: str | None = None) -> None:
    if status != RF_OK:
        raise_error(status, err, context)


def c_path(path) -> bytes:
    """A path (str, bytes or os.PathLike) as the bytes the C library opens."""
    p = os.fspath(path)
    if isinstance(p, str):
        p = os.fsencode(p)
    if b"\0" in p:
        raise ValueError(f"path {path!r} contains a NUL byte")
    return p


__all__ = ["lib", "gil_lib", "library_path", "has", "check", "raise_error", "c_path", "byref"]
