"""forward() against the golden PyTorch tensors of ../shared/golden."""
import json
import os

import numpy as np
import pytest

import retinaface_c as rf

# the bounds of tests/test_golden.c: MobileNet0.25 1e-4, the synthetic ResNet50 3.5e-4
CASES = [("mnet_640", 1e-4), ("mnet_orig", 1e-4), ("face1mb_orig", 1e-4), ("r50_640", 3.5e-4),
         ("r50_batch2", 3.5e-4)]


@pytest.fixture(scope="module")
def golden(data):
    with open(os.path.join(data, "golden", "cases.json")) as f:
        return {c["id"]: c for c in json.load(f)["cases"]}


@pytest.mark.parametrize("case,bound", CASES)
def test_forward_equals_golden(data, golden, case, bound):
    c = golden[case]
    d = os.path.join(data, "golden", case)
    tensor = np.concatenate([rf.input_tensor(os.path.join(data, "golden", i["file"]))
                             for i in c["inputs"]])
    assert tensor.shape == (c["batch"], 3, c["height"], c["width"])
    det = rf.Detector(os.path.join(data, c["model"]), anchors=c["anchors"]["preset"])
    out = det.forward(tensor)
    assert list(out) == list(rf.OUTPUT_NAMES)
    for name in rf.OUTPUT_NAMES:
        want = np.load(os.path.join(d, name + ".npy"))
        assert out[name].shape == want.shape and out[name].dtype == np.float32
        err = float(np.max(np.abs(out[name] - want)))
        assert err <= bound, f"{case} {name}: max error {err}"


def test_forward_outputs_are_copies(mnet, data):
    det = rf.Detector(mnet)
    t = rf.input_tensor(os.path.join(data, "golden", "mnet_640", "input.png"))
    a = det.forward(t)["face_rpn_cls_prob"]
    kept = a.copy()
    other = det.forward(np.zeros((1, 3, 640, 640), np.float32))["face_rpn_cls_prob"]
    assert not np.array_equal(other, kept)  # the context's buffers now hold other values
    np.testing.assert_array_equal(a, kept)
    assert a.shape == (1, 16800, 2)
