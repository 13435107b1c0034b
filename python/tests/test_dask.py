"""retinaface_c.dask on a LocalCluster (127.0.0.1, 2 worker processes, a few WIDER images):
the same detections as the CLI, the same WIDER result files as `retinaface eval --out`."""
import json
import os
import subprocess

import pytest

distributed = pytest.importorskip("distributed")
import retinaface_c as rf  # noqa: E402
from retinaface_c import dask as rfdask  # noqa: E402

from test_detect import assert_same  # noqa: E402

TIMEOUT = 240


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    work = tmp_path_factory.mktemp("dask")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  local_directory=str(work), silence_logs=40,
                                  timeout=TIMEOUT) as cluster, \
            distributed.Client(cluster, timeout=TIMEOUT) as c:
        yield c


@pytest.fixture(scope="module")
def images(wider_images):
    # a few events, so that the result files land in several folders
    picked = wider_images[::len(wider_images) // 7][:7]
    assert len({os.path.dirname(p) for p in picked}) > 1
    return picked


def test_detect_files_equals_cli(client, mnet, images, cli_detect):
    records = cli_detect(mnet, images)
    got = rfdask.detect_files(images, mnet, client=client, chunk_size=2)
    assert len(got) == len(images)
    for faces, record, path in zip(got, records, images):
        assert faces.file == path  # in the order of paths
        assert_same(faces, record)
    assert sum(len(f) for f in got) > 10
    # one model load per worker process, however many tasks ran
    loads = client.run(rfdask.worker_model_loads)
    assert sorted(loads.values()) == [1, 1], loads


def test_detect_files_options(client, mnet, images, cli_detect):
    records = cli_detect(mnet, images[:3], "--input-size", "640x640", "--threshold", "0.7")
    got = rfdask.detect_files(images[:3], mnet, client=client, input_size=(640, 640),
                              threshold=0.7)
    for faces, record in zip(got, records):
        assert_same(faces, record)
    with pytest.raises(TypeError, match="thresh"):
        rfdask.detect_files(images, mnet, client=client, thresh=0.7)


def test_write_wider_equals_cli_eval(client, mnet, images, cli, data, tmp_path):
    # the CLI's run over the same images: an images folder holding just them
    tree = tmp_path / "images"
    for p in images:
        event = tree / os.path.basename(os.path.dirname(p))
        event.mkdir(parents=True, exist_ok=True)
        (event / os.path.basename(p)).symlink_to(p)
    gt = os.path.join(data, "data", "widerface")
    subprocess.run([cli, "eval", "-m", mnet, "--gt", gt, "--images", str(tree), "--protocol",
                    "both", "--out", str(tmp_path / "cli"), "-q"], check=True,
                   capture_output=True, timeout=600)
    out = tmp_path / "dask"
    counts = rfdask.write_wider(images, mnet, str(out), client=client)  # both protocols
    assert len(counts) == len(images)
    for folder, protocol in (("predictions", "official"), ("predictions_omz", "omz")):
        assert sum(c[protocol] for c in counts) > 100
        for p, c in zip(images, counts):
            rel = os.path.relpath(rf.wider.result_path(str(out / folder), p), str(out / folder))
            mine = (out / folder / rel).read_bytes()
            assert mine == (tmp_path / "cli" / folder / rel).read_bytes(), rel
            assert int(mine.split(b"\n")[1]) == c[protocol]
    # one protocol, with the official protocol's input changed as the CLI's --long-side does
    subprocess.run([cli, "eval", "-m", mnet, "--gt", gt, "--images", str(tree), "--protocol",
                    "wider", "--long-side", "320", "--out", str(tmp_path / "cli320"), "-q"],
                   check=True, capture_output=True, timeout=600)
    rfdask.write_wider(images, mnet, str(tmp_path / "d320"), client=client, protocol="official",
                       long_side=320)
    assert not (tmp_path / "d320" / "predictions_omz").exists()
    for p in images:
        rel = os.path.relpath(rf.wider.result_path("x", p), "x")
        assert (tmp_path / "d320" / "predictions" / rel).read_bytes() == \
            (tmp_path / "cli320" / "predictions" / rel).read_bytes()


def test_write_jsonl_in_order(client, mnet, images, cli_detect, tmp_path):
    records = cli_detect(mnet, images)
    out = tmp_path / "faces.jsonl"
    n = rfdask.write_jsonl(images, mnet, str(out), client=client, chunk_size=1, window=2)
    assert n == len(images)
    lines = out.read_text().splitlines()
    assert len(lines) == len(images)
    for line, record in zip(lines, records):
        got = json.loads(line)
        assert got == record  # the same numbers, as the CLI prints them
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_errors_come_back(client, mnet, images, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(rf.Error, match="bad.jpg"):
        rfdask.detect_files(images[:2] + [str(bad)], mnet, client=client)
    with pytest.raises(rf.FileError, match="missing.pth"):
        rfdask.detect_files(images[:1], str(tmp_path / "missing.pth"), client=client)
    out = tmp_path / "out.jsonl"
    with pytest.raises(rf.Error, match="bad.jpg"):
        rfdask.write_jsonl([str(bad)] + images[:1], mnet, str(out), client=client)
    assert not out.exists() and os.listdir(tmp_path) == ["bad.jpg"]  # nothing half written
    with pytest.raises(TypeError, match="single path"):
        rfdask.detect_files(images[0], mnet, client=client)


def test_a_replaced_model_file_is_loaded_again(client, data, images, tmp_path):
    import shutil
    path = tmp_path / "model.pth"
    shutil.copyfile(os.path.join(data, "models", "mobilenet0.25_Final.pth"), path)
    first = rfdask.detect_files(images[:2], str(path), client=client)
    before = sum(client.run(rfdask.worker_model_loads).values())
    other = os.path.join(data, "models", "mobilenet0.25_face1mb.pth")
    shutil.copyfile(other, tmp_path / "new.pth")
    os.replace(tmp_path / "new.pth", path)  # other weights under the same name
    again = rfdask.detect_files(images[:2], str(path), client=client)
    assert sum(client.run(rfdask.worker_model_loads).values()) > before
    want = rf.Detector(other).detect(images[0])
    assert len(again[0]) == len(want) and (again[0].boxes == want.boxes).all()
    assert len(first[0]) != len(want) or not (first[0].boxes == want.boxes).all()
