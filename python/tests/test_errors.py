"""Bad input raises a clear exception carrying the culprit; the interpreter never crashes."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import retinaface_c as rf


@pytest.fixture(scope="module")
def det(mnet):
    with rf.Detector(mnet) as d:
        yield d


@pytest.fixture(scope="module")
def img(photos):
    return rf.load_image(photos[0])


def test_wrong_dtype(det, img):
    with pytest.raises(TypeError, match="uint8"):
        det.detect(img.astype(np.float32))
    with pytest.raises(TypeError, match="float32"):
        det.forward(np.zeros((1, 3, 64, 64), np.float64))


@pytest.mark.parametrize("shape", [(64, 64), (64, 64, 4), (64, 64, 1), (0, 64, 3), (64, 0, 3),
                                   (2, 64, 64, 3)])
def test_wrong_shape(det, shape):
    with pytest.raises(ValueError, match="shape|empty"):
        det.detect(np.zeros(shape, np.uint8))


def test_forward_wrong_shape(det):
    for shape in [(3, 64, 64), (1, 4, 64, 64), (1, 3, 0, 64)]:
        with pytest.raises(ValueError, match="N x 3 x H x W"):
            det.forward(np.zeros(shape, np.float32))


def test_non_contiguous(det, img):
    for bad in (img[:, ::2], img[..., ::-1], img[::-1], np.asfortranarray(img),
                np.broadcast_to(img[:1], img.shape)):
        with pytest.raises(ValueError, match="contiguous"):
            det.detect(bad)
    with pytest.raises(ValueError, match="C-contiguous"):
        det.forward(np.zeros((1, 3, 64, 64), np.float32).transpose(0, 1, 3, 2))


def test_not_an_image(det):
    with pytest.raises(TypeError, match="numpy array or a path"):
        det.detect([[1, 2, 3]])


def test_missing_model(tmp_path):
    path = str(tmp_path / "nope.pth")
    with pytest.raises(rf.FileError, match="nope.pth") as e:
        rf.Detector(path)
    assert isinstance(e.value, OSError) and e.value.status == "RF_E_IO"


def test_not_a_model(tmp_path, photos):
    with pytest.raises(rf.Error, match="jpg") as e:
        rf.Model(photos[0])
    assert e.value.status in ("RF_E_FORMAT", "RF_E_MODEL")
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(rf.Error, match="empty.pth"):
        rf.Model(str(empty))


def test_corrupt_image_path(det, tmp_path, photos):
    with open(photos[0], "rb") as f:
        jpeg = f.read()
    cases = {"garbage.jpg": b"this is not an image at all" * 10,
             "truncated.jpg": jpeg[:len(jpeg) // 3], "empty.png": b""}
    for name, content in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(rf.Error, match=name):
            det.detect(str(p))
        with pytest.raises(rf.Error, match=name):
            rf.load_image(p)
    with pytest.raises(rf.FileError, match="missing.jpg"):
        det.detect(str(tmp_path / "missing.jpg"))
    with pytest.raises(rf.Error):
        det.detect(jpeg[:100])  # bytes of a truncated file


def test_bad_options(det, img, mnet):
    with pytest.raises(ValueError, match="threshold"):
        det.detect(img, threshold=float("nan"))
    with pytest.raises(ValueError, match="threshold"):
        det.detect(img, threshold=1.5)
    with pytest.raises(ValueError, match="top_k"):
        det.detect(img, top_k=-1)
    with pytest.raises(ValueError, match="not both"):
        det.detect(img, input_size=(640, 640), long_side=640)
    with pytest.raises(ValueError, match="input_size"):
        det.detect(img, input_size=(0, 640))
    with pytest.raises(TypeError, match="input_size"):
        det.detect(img, input_size=640)
    with pytest.raises(ValueError, match="channels"):
        det.detect(img, channels="bgra")
    with pytest.raises(ValueError, match="anchors 'nope'"):
        rf.Detector(mnet, anchors="nope")
    with pytest.raises(ValueError, match="kernels 'fast'"):
        rf.Detector(mnet, kernels="fast")
    with pytest.raises(ValueError, match="precision"):
        rf.Detector(mnet, precision="int4")
    with pytest.raises(ValueError, match="threads"):
        rf.Detector(mnet, threads=0)
    # the detector still works after all that
    assert len(det.detect(img)) > 0


def test_network_size_over_the_limit(det, img):
    with pytest.raises(rf.LimitError, match="16384x16384|pixels|limit"):
        det.detect(img, input_size=(16384, 16384))


def test_closed_detector(mnet, img):
    d = rf.Detector(mnet)
    d.close()
    d.close()
    with pytest.raises(ValueError, match="closed"):
        d.detect(img)


def test_align_refuses_bad_landmarks(det, img):
    faces = det.detect(img)
    assert len(faces) > 0
    faces.landmarks[0] = np.nan  # a view of the Faces' rows
    with pytest.raises(rf.ArgumentError, match="landmark"):
        det.align(img, faces)


def test_no_crash_in_a_fresh_interpreter(mnet, photos, tmp_path):
    """Every kind of bad input in a child interpreter: each raises, the child exits 0."""
    script = textwrap.dedent(f"""
        import numpy as np, retinaface_c as rf
        det = rf.Detector({mnet!r})
        img = rf.load_image({photos[0]!r})
        bad = [lambda: det.detect(img[:, ::2]), lambda: det.detect(img.astype(np.int16)),
               lambda: det.detect(b""), lambda: det.detect("/nonexistent/x.jpg"),
               lambda: det.detect_batch([img, np.zeros((5, 5, 3), np.uint8)], input_size=None),
               lambda: det.forward(np.zeros((0, 3, 8, 8), np.float32)),
               lambda: rf.Model(b"/dev/null/x"), lambda: rf.Model.from_bytes(b"PK\\x03\\x04" * 9),
               lambda: rf.input_tensor(img, size=(10**6, 10**6))]
        raised = 0
        for f in bad:
            try:
                f()
            except Exception as e:
                assert str(e), type(e)
                raised += 1
        # tiny but valid input: no faces, no crash
        assert len(det.detect(np.zeros((1, 1, 3), np.uint8), input_size=(1, 1))) == 0
        assert len(det.detect(np.zeros((1, 1, 3), np.uint8))) == 0
        assert det.forward(np.zeros((1, 3, 1, 1), np.float32))["face_rpn_cls_prob"].shape[1] > 0
        print("raised", raised, "of", len(bad))
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=300, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "raised 9 of 9", r.stdout


def test_model_closed_under_its_detectors(mnet, img):
    """Closing a Model that Detectors still use frees it only after the last of them."""
    model = rf.Model(mnet)
    a, b = rf.Detector(model), rf.Detector(model)
    model.close()
    assert len(a.detect(img)) > 0  # the weights are still there
    with pytest.raises(ValueError, match="closed"):
        rf.Detector(model)
    a.close()
    assert len(b.detect(img)) > 0
    assert model._ptr is not None
    b.close()
    assert model._ptr is None  # freed with the last Detector
    with pytest.raises(ValueError, match="closed"):
        b.detect(img)
