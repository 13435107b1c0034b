"""bf16 and int8 Detectors: the faces of fp32 found again (score >= 0.5, IoU >= 0.9: >= 95 %
both ways for bf16, >= 90 % for int8), unknown precisions refused, and on a CPU without the
feature (RETINAFACE_CPU_DISABLE, in a subprocess) an UnsupportedError naming it."""
import os
import subprocess
import sys

import numpy as np
import pytest

import retinaface_c as rf


def _supported(precision):
    """Whether this CPU runs the precision's fast kernels (as /proc/cpuinfo says)."""
    need = {"bf16": "avx512_bf16", "int8": "avx512_vnni"}[precision]
    try:
        with open("/proc/cpuinfo") as f:
            return need in f.read().split()
    except OSError:
        return False


def _iou(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _found(src, dst):
    """(found, total): faces of src with score >= 0.5 that dst has (score >= 0.5) at IoU >= 0.9."""
    a = [b for b, s in zip(src.boxes, src.scores) if s >= 0.5]
    b = [b for b, s in zip(dst.boxes, dst.scores) if s >= 0.5]
    return sum(any(_iou(x, y) >= 0.9 for y in b) for x in a), len(a)


@pytest.fixture(scope="module")
def photo(photos):
    """The shared photo with the most faces (face1mb_sample.jpg, 1600x898)."""
    return next(p for p in photos if os.path.basename(p) == "face1mb_sample.jpg")


@pytest.mark.parametrize("precision,need", [("bf16", 0.95), ("int8", 0.90)])
def test_reduced_precision_finds_the_fp32_faces(mnet, photo, precision, need):
    if not _supported(precision):
        pytest.skip(f"SKIP this CPU lacks the {precision} kernels")
    want = rf.Detector(mnet).detect(photo)
    det = rf.Detector(mnet, precision=precision)
    assert det.precision == precision
    assert det.kernel_set == {"bf16": "avx512_bf16", "int8": "avx512_vnni"}[precision]
    got = det.detect(photo)
    assert np.isfinite(got.boxes).all() and np.isfinite(got.scores).all()
    found, total = _found(want, got)
    back, ours = _found(got, want)
    print(f"{precision}: {found} of {total} fp32 faces found, {back} of {ours} of ours in fp32")
    assert total > 5
    assert found >= need * total and back >= need * ours


def test_shared_model_of_several_precisions(mnet, photo):
    if not (_supported("bf16") and _supported("int8")):
        pytest.skip("SKIP this CPU lacks the bf16 or int8 kernels")
    model = rf.Model(mnet, keep_reference=True, precision="int8")
    dets = {p: rf.Detector(model, precision=p) for p in ("fp32", "bf16", "int8")}
    assert {p: d.precision for p, d in dets.items()} == {p: p for p in dets}
    assert dets["fp32"].kernel_set == dets["fp32"].kernels
    assert len(dets["int8"].detect(photo).scores) > 0


def test_model_packed_for_int8_without_reference_refuses_bf16(mnet):
    if not _supported("int8"):
        pytest.skip("SKIP this CPU lacks the int8 kernels")
    model = rf.Model(mnet, precision="int8")
    rf.Detector(model, precision="int8")
    with pytest.raises(rf.UnsupportedError, match="RF_LOAD_KEEP_REFERENCE"):
        rf.Detector(model, precision="bf16")


@pytest.mark.parametrize("bad", ["fp16", "", "FP32", "int4"])
def test_unknown_precision_raises_value_error(mnet, bad):
    with pytest.raises(ValueError, match="precision"):
        rf.Detector(mnet, precision=bad)
    with pytest.raises(ValueError, match="precision"):
        rf.Model(mnet, precision=bad)


def test_precision_must_be_a_string(mnet):
    with pytest.raises(TypeError):
        rf.Detector(mnet, precision=16)


@pytest.mark.parametrize("precision,feature", [("bf16", "avx512_bf16"), ("int8", "avx512_vnni")])
def test_cpu_without_the_feature(mnet, photo, precision, feature):
    # a fresh interpreter: the library reads RETINAFACE_CPU_DISABLE when it selects kernels
    code = f"""
import retinaface_c as rf
try:
    rf.Detector({mnet!r}, precision={precision!r})
except rf.UnsupportedError as e:
    print("UNSUPPORTED", e)
d = rf.Detector({mnet!r}, precision={precision!r}, kernels="reference")
print("REFERENCE", d.kernel_set, len(d.detect({photo!r}, threshold=0.9).scores) >= 0)
"""
    env = dict(os.environ, RETINAFACE_CPU_DISABLE=feature)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("UNSUPPORTED") and feature in lines[0], out.stdout
    assert lines[1] == f"REFERENCE reference_{precision} True", out.stdout


def test_calibrate_and_save(mnet, photo, photos, tmp_path):
    """Model.calibrate on the shared photos (paths and an array), save() to a native file that
    keeps the ranges, and int8 on it finds the fp32 faces (>= 90 % both ways); refusals."""
    model = rf.Model(mnet, keep_reference=True)
    assert not model.calibrated
    images = photos[1:] + [rf.load_image(photos[0])]
    assert model.calibrate(images, long_side=640, threads=2) == len(photos)
    assert model.calibrated
    path = tmp_path / "calibrated.rfm"
    model.save(path)
    kernels = "auto" if _supported("int8") else "reference"
    back = rf.Model(path, keep_reference=kernels == "reference")
    assert back.calibrated
    want = rf.Detector(mnet).detect(photo, long_side=640)
    got = rf.Detector(back, precision="int8", kernels=kernels).detect(photo, long_side=640)
    found, total = _found(want, got)
    back_found, ours = _found(got, want)
    print(f"calibrated int8: {found} of {total} fp32 faces, {back_found} of {ours} of ours")
    assert total > 5 and found >= 0.9 * total and back_found >= 0.9 * ours
    det = rf.Detector(model)
    with pytest.raises(ValueError, match="Detector"):
        model.calibrate([photo])
    det.close()
    with pytest.raises(ValueError, match="at least one image"):
        model.calibrate([])
    assert not model.calibrated  # the ranges were cleared before the (empty) run
    with pytest.raises(rf.FileError, match="none.jpg"):
        model.calibrate([str(tmp_path / "none.jpg")])
    with pytest.raises(ValueError, match="storage"):
        model.save(tmp_path / "x.rfm", storage="f8")
