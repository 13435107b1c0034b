"""retinaface_c: RetinaFace face detection (libretinaface, C11) for numpy.

    import cv2, retinaface_c
    det = retinaface_c.Detector("mobilenet0.25_Final.pth")
    faces = det.detect(cv2.imread("photo.jpg"))          # or det.detect("photo.jpg")
    for box, score, landmarks in faces:
        ...
    faces.boxes, faces.scores, faces.landmarks           # (N, 4), (N,), (N, 5, 2) float32

Detector.detect / detect_batch / forward release the GIL while the library runs: threads with
a Detector each (sharing one Model) run in parallel. Errors of the library are raised as
retinaface_c.Error subclasses carrying its one-line message. retinaface_c.dask runs detection
over many files on a dask.distributed cluster.
"""
from ._lib import (ArgumentError, Error, FileError, FormatError, LimitError, ModelError,
                   NetworkError, OutOfMemoryError, UnsupportedError, library_path)
from . import wider
from ._core import (BGR_MEAN, OUTPUT_NAMES, Detector, Face, Faces, Model,
                    input_tensor, load_image)

__version__ = "0.1.0"

__all__ = ["Detector", "Model", "Faces", "Face", "load_image", "input_tensor",
           "OUTPUT_NAMES", "BGR_MEAN", "library_path", "Error", "ArgumentError", "FileError",
           "FormatError", "ModelError", "OutOfMemoryError", "LimitError", "UnsupportedError",
           "NetworkError", "wider", "__version__"]
