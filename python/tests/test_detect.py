"""Detection from Python equals the CLI's, for arrays and paths, single and batched."""
import os
import pickle

import numpy as np
import pytest

import retinaface_c as rf


def assert_same(faces, record):
    """faces (a Faces) equals one image record of `retinaface detect --json` exactly: the
    CLI prints 9 significant digits, which give back the float32 values bit for bit."""
    assert (faces.width, faces.height) == (record["width"], record["height"])
    want = record["faces"]
    assert len(faces) == len(want)
    if not want:
        return
    np.testing.assert_array_equal(faces.boxes, np.float32([f["box"] for f in want]))
    np.testing.assert_array_equal(faces.scores, np.float32([f["score"] for f in want]))
    np.testing.assert_array_equal(faces.landmarks, np.float32([f["landmarks"] for f in want]))


@pytest.fixture(scope="module")
def detector(mnet):
    with rf.Detector(mnet) as d:
        yield d


POLICIES = [((), {}), (("--input-size", "640x640"), {"input_size": (640, 640)}),
            (("--long-side", "640"), {"long_side": 640}),
            (("--threshold", "0.3", "--nms", "0.3"), {"threshold": 0.3, "nms": 0.3})]


@pytest.mark.parametrize("cli_options,kwargs", POLICIES)
def test_equals_cli_on_the_shared_photos(detector, mnet, photos, cli_detect, cli_options,
                                         kwargs):
    records = cli_detect(mnet, photos, *cli_options)
    assert len(records) == len(photos)
    found = 0
    for path, record in zip(photos, records):
        assert_same(detector.detect(path, **kwargs), record)       # a path
        assert_same(detector.detect(rf.load_image(path), **kwargs), record)  # an array
        found += len(record["faces"])
    assert found > 20  # the comparison is not between empty lists


def test_face1mb_anchors_equal_cli(data, photos, cli_detect):
    model = os.path.join(data, "models", "mobilenet0.25_face1mb.pth")
    records = cli_detect(model, photos[:2], "--anchors", "face1mb")
    with rf.Detector(model, anchors="face1mb") as d:
        assert d.model.anchors == "face1mb"
        for path, record in zip(photos, records):
            assert_same(d.detect(path), record)


def test_rgb_input_equals_bgr(detector, photos):
    bgr = rf.load_image(photos[0])
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    want = detector.detect(bgr)
    assert len(want) > 0
    for got in (detector.detect(rgb, channels="rgb"), detector.detect(rgb, rgb=True)):
        np.testing.assert_array_equal(got.boxes, want.boxes)
        np.testing.assert_array_equal(got.scores, want.scores)
    # and RGB read as BGR is really different input
    assert not np.array_equal(detector.detect(rgb).scores[:5], want.scores[:5])


def test_array_is_used_in_place(photos):
    from retinaface_c._core import _image_view
    img = rf.load_image(photos[0])
    view = _image_view(img, 0)
    assert view.pixels == img.ctypes.data and view.stride == img.strides[0]
    crop = img[10:300, 20:500]           # rows apart by the full width: still no copy
    view = _image_view(crop, 0)
    assert view.pixels == crop.ctypes.data and view.stride == img.strides[0]
    assert (view.width, view.height) == (480, 290)


def test_crop_view_equals_its_copy(detector, photos):
    img = rf.load_image(photos[0])
    crop = img[50:600, 100:900]
    a = detector.detect(crop)
    b = detector.detect(np.ascontiguousarray(crop))
    assert len(a) > 0
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.landmarks, b.landmarks)


def test_bytes_input_equals_path(detector, photos):
    with open(photos[0], "rb") as f:
        data = f.read()
    a, b = detector.detect(data), detector.detect(photos[0])
    np.testing.assert_array_equal(a.boxes, b.boxes)
    assert b.file == photos[0] and a.file is None


def test_batch_equals_cli_batch(detector, mnet, photos, cli_detect):
    records = cli_detect(mnet, photos, "--input-size", "640x640")
    got = detector.detect_batch([rf.load_image(p) for p in photos], input_size=(640, 640))
    assert len(got) == len(photos)
    for faces, record in zip(got, records):
        assert_same(faces, record)
    got = detector.detect_batch(photos)  # paths, default 640x640
    for faces, record, path in zip(got, records, photos):
        assert_same(faces, record)
        assert faces.file == path


def test_batch_close_to_single_images(detector, photos):
    imgs = [rf.load_image(p) for p in photos]
    batch = detector.detect_batch(imgs)
    for img, b in zip(imgs, batch):
        s = detector.detect(img, input_size=(640, 640))
        assert len(s) == len(b)
        np.testing.assert_allclose(s.boxes, b.boxes, atol=1e-3)


def test_faces_api(detector, photos):
    faces = detector.detect(photos[0])
    n = len(faces)
    assert n > 5
    assert faces.boxes.shape == (n, 4) and faces.boxes.dtype == np.float32
    assert faces.scores.shape == (n,) and faces.landmarks.shape == (n, 5, 2)
    assert np.all(np.diff(faces.scores) <= 0) and np.all(faces.scores > 0.5)
    items = list(faces)
    assert len(items) == n
    box, score, landmarks = items[0]
    assert score == float(faces.scores[0]) and landmarks.shape == (5, 2)
    d = faces.to_dict()
    assert d["file"] == photos[0] and len(d["faces"]) == n
    assert d["faces"][0]["box"] == [float(v) for v in faces.boxes[0]]
    assert_same(faces, d)
    import json
    assert_same(faces, json.loads(faces.to_json()))
    again = pickle.loads(pickle.dumps(faces))
    np.testing.assert_array_equal(again.landmarks, faces.landmarks)
    assert again.file == faces.file and len(again) == n
    assert "Faces" in repr(faces)


def test_shared_model_between_detectors(mnet, photos):
    model = rf.Model(mnet)
    assert model.backbone == "mobilenet0.25" and model.parameters > 400000
    a, b = rf.Detector(model), rf.Detector(model, kernels="auto")
    fa, fb = a.detect(photos[0]), b.detect(photos[0])
    np.testing.assert_array_equal(fa.boxes, fb.boxes)
    del model  # the detectors keep it alive
    assert len(a.detect(photos[1])) == len(b.detect(photos[1]))


def test_reference_kernels(mnet, photos):
    with rf.Detector(mnet, kernels="reference") as d:
        assert d.kernels == "reference"
        ref = d.detect(photos[0], input_size=(320, 320))
    with rf.Detector(mnet) as d:
        fast = d.detect(photos[0], input_size=(320, 320))
    assert len(ref) == len(fast) > 0
    np.testing.assert_allclose(ref.boxes, fast.boxes, atol=0.05)


def test_input_tensor_is_bgr_minus_mean(photos):
    img = rf.load_image(photos[0])
    t = rf.input_tensor(img)
    want = img.astype(np.float32).transpose(2, 0, 1)[None] - \
        np.float32(rf.BGR_MEAN).reshape(1, 3, 1, 1)
    np.testing.assert_array_equal(t, want)
    assert rf.input_tensor(photos[0], size=(64, 48)).shape == (1, 3, 48, 64)


def test_align_equals_the_cli_crops(detector, mnet, photos, cli, tmp_path):
    """Detector.align gives, for array and path inputs, the chips `retinaface detect --crops`
    writes (lossless PNG), pixel for pixel."""
    import subprocess
    photo = photos[0]
    subprocess.run([cli, "detect", "-q", "-m", mnet, "--crops", str(tmp_path), photo],
                   check=True, capture_output=True, timeout=600)
    written = sorted(os.listdir(tmp_path))
    faces = detector.detect(photo)
    assert len(written) == len(faces) > 0
    chips = detector.align(rf.load_image(photo), faces)
    assert chips.shape == (len(faces), 112, 112, 3) and chips.dtype == np.uint8
    for chip, name in zip(chips, written):
        np.testing.assert_array_equal(chip, rf.load_image(os.path.join(tmp_path, name)))
    np.testing.assert_array_equal(detector.align(photo, faces), chips)
