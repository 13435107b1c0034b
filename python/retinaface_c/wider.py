"""WIDER FACE result files: detections converted and written exactly as `retinaface eval` does.

    faces = detector.detect(path, threshold=0.02, top_k=0, keep_top_k=0)  # official settings
    boxes = wider.result_boxes(faces)           # (N, 5) float64: x, y, w, h, score, file order
    wider.write_result("predictions", path, boxes)   # predictions/<event>/<name>.txt

PROTOCOLS gives the detect() settings of each protocol (docs/eval.md), as the CLI runs them,
FOLDERS the folder of each in the output of `retinaface eval --out`.
"""
from __future__ import annotations

import ctypes
import os
from typing import Dict

import numpy as np

from . import _lib
from ._core import Faces
from ._lib import byref, lib

# detect() keyword arguments of each protocol (`retinaface eval`): the official one has no
# caps and the +1 NMS convention on image pixels at the image's own size (unless the caller
# picks another input); Open Model Zoo's stretches to 640x640, keeps 750 candidates before
# NMS and runs NMS without +1 on the network input's pixels.
PROTOCOLS: Dict[str, dict] = {
    "official": dict(threshold=0.02, nms=0.4, top_k=0, keep_top_k=0, nms_offset=1.0,
                     nms_in_network_pixels=False),
    "omz": dict(input_size=(640, 640), threshold=0.02, nms=0.4, top_k=750, keep_top_k=0,
                nms_offset=0.0, nms_in_network_pixels=True),
}


FOLDERS = {"official": "predictions", "omz": "predictions_omz"}


def result_boxes(faces: Faces, protocol: str = "official") -> np.ndarray:
    """The faces as the protocol's result file lists them: (N, 5) float64 rows x, y, w, h,
    score, sorted by score (stable). official: x = (int)x1, w = (int)x2 - (int)x1 (as
    test_widerface.py); omz: corners rounded to nearest-even; scores are the shortest decimal
    of the float32 score (rf_wider_box_official / rf_wider_box_omz)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be 'official' or 'omz', not {protocol!r}")
    gil_lib = _lib.gil_lib
    convert = gil_lib.rf_wider_box_official if protocol == "official" else gil_lib.rf_wider_box_omz
    rows = np.ascontiguousarray(faces.rows, np.float32)
    n = len(rows)
    boxes = (_lib.rf_wider_box * max(n, 1))()
    base = rows.ctypes.data
    for i in range(n):
        boxes[i] = convert(base + i * _lib.FACE_BYTES)
    err = _lib.rf_error()
    _lib.check(lib.rf_wider_boxes_sort(boxes, n, byref(err)), err)
    return np.frombuffer(boxes, np.float64).reshape(-1, 5)[:n].copy()


def result_path(out_dir, image_path) -> str:
    """out_dir/<event>/<name>.txt for an image <...>/<event>/<name>.jpg."""
    event, name = _event_name(image_path)
    return os.path.join(os.fsdecode(out_dir), event, name + ".txt")


def _event_name(image_path):
    p = os.fsdecode(image_path)
    event = os.path.basename(os.path.dirname(os.path.abspath(p)))
    name = os.path.splitext(os.path.basename(p))[0]
    if not event or not name:
        raise ValueError(f"{p}: not a WIDER FACE image path (<event>/<name>.jpg)")
    return event, name


def write_result(out_dir, image_path, boxes: np.ndarray) -> str:
    """Writes out_dir/<event>/<name>.txt (folders created; written beside and renamed, so no
    half file is ever there) with the boxes of result_boxes(), in their order. Returns the
    path."""
    event, name = _event_name(image_path)
    os.makedirs(out_dir, exist_ok=True)
    b = np.ascontiguousarray(boxes, np.float64)
    if b.ndim != 2 or b.shape[1] != 5:
        raise ValueError(f"boxes must be N x 5 (x, y, w, h, score), not shape {b.shape}")
    err = _lib.rf_error()
    _lib.check(lib.rf_wider_result_write(_lib.c_path(out_dir), os.fsencode(event),
                                         os.fsencode(name), b.ctypes.data, len(b), byref(err)),
               err)
    return result_path(out_dir, image_path)


__all__ = ["PROTOCOLS", "FOLDERS", "result_boxes", "result_path", "write_result"]
del ctypes
