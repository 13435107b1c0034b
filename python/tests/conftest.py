"""Shared fixtures: the repository, the shared test data, the CLI to compare against.

Environment (set by scripts/test_python.sh):
  RETINAFACE_SOURCE_DIR   the repository (default: two folders above this one)
  RETINAFACE_TESTDATA     the shared data (default: ../shared beside the repository)
  RETINAFACE_CLI          the `retinaface` binary of the same build (default: build/retinaface)
Tests that need data or the CLI skip, saying what is missing, when it is absent.
"""
import json
import os
import subprocess

import pytest

REPO = os.path.abspath(os.environ.get("RETINAFACE_SOURCE_DIR",
                                      os.path.join(os.path.dirname(__file__), "..", "..")))


def _data_dir():
    return os.path.abspath(os.environ.get("RETINAFACE_TESTDATA",
                                          os.path.join(REPO, "..", "shared")))


@pytest.fixture(scope="session")
def repo():
    return REPO


@pytest.fixture(scope="session")
def data():
    d = _data_dir()
    if not os.path.isdir(os.path.join(d, "models")):
        pytest.skip(f"SKIP shared test data not found at {d} (set RETINAFACE_TESTDATA)")
    return d


@pytest.fixture(scope="session")
def mnet(data):
    return os.path.join(data, "models", "mobilenet0.25_Final.pth")


@pytest.fixture(scope="session")
def photos(data):
    d = os.path.join(data, "data", "images")
    return [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(".jpg")]


@pytest.fixture(scope="session")
def wider_images(data):
    """The shared WIDER FACE val images, in name order."""
    root = os.path.join(data, "data", "widerface", "val", "images")
    return sorted(os.path.join(root, e, f) for e in os.listdir(root)
                  for f in os.listdir(os.path.join(root, e)) if f.endswith(".jpg"))


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("RETINAFACE_CLI", os.path.join(REPO, "build", "retinaface"))
    if not os.access(path, os.X_OK):
        pytest.skip(f"SKIP the retinaface CLI is not built at {path} (set RETINAFACE_CLI)")
    return path


@pytest.fixture(scope="session")
def cli_detect(cli):
    """cli_detect(model, images, *options) -> the `images` records of `detect --json -`."""
    def run(model, images, *options):
        out = subprocess.run([cli, "detect", "-m", model, *options, "--json", "-", *images],
                             check=True, capture_output=True, text=True, timeout=600)
        return json.loads(out.stdout)["images"]
    return run
