"""The installed package: its library inside it, the ctypes layouts equal to the headers."""
import ctypes
import os
import subprocess

import pytest

import retinaface_c
from retinaface_c import _lib


def test_library_ships_inside_the_installed_package():
    if os.environ.get("RETINAFACE_TEST_INSTALLED") != "1":
        pytest.skip("SKIP not run from an installation made by scripts/test_python.sh")
    pkg = os.path.dirname(os.path.abspath(retinaface_c.__file__))
    assert os.path.dirname(os.path.abspath(retinaface_c.library_path)) == pkg
    assert os.path.basename(retinaface_c.library_path) == "libretinaface.so.0"
    # imported from the installation, not from the source tree
    src = os.path.join(os.environ["RETINAFACE_SOURCE_DIR"], "python")
    assert not pkg.startswith(os.path.abspath(src) + os.sep)


PROBE = r"""
#include <stddef.h>
#include <stdio.h>
#include "retinaface.h"
#include "retinaface_eval.h"
#define S(T) printf(#T " size %zu\n", sizeof(T));
#define F(T, f) printf(#T " " #f " %zu\n", offsetof(T, f));
int main(void) {
%s
    return 0;
}
"""


def test_ctypes_layouts_match_the_headers(tmp_path, repo):
    """Compiles a probe against include/ and compares every size and field offset."""
    lines = []
    for name, cls in _lib.STRUCTS.items():
        lines.append(f"S({name})")
        lines += [f"F({name}, {f[0]})" for f in cls._fields_]
    src = tmp_path / "probe.c"
    src.write_text(PROBE.replace("%s", "\n".join(lines)))
    exe = tmp_path / "probe"
    cc = subprocess.run(["cc", "-std=c11", "-I", os.path.join(repo, "include"), str(src), "-o",
                         str(exe)], capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    want = {}
    for line in out.splitlines():
        struct, field, value = line.split()
        want[(struct, field)] = int(value)
    for name, cls in _lib.STRUCTS.items():
        assert ctypes.sizeof(cls) == want[(name, "size")], name
        for f in cls._fields_:
            assert getattr(cls, f[0]).offset == want[(name, f[0])], f"{name}.{f[0]}"


def test_help_is_useful():
    for obj in (retinaface_c.Detector, retinaface_c.Detector.detect,
                retinaface_c.Detector.detect_batch, retinaface_c.Detector.forward,
                retinaface_c.Faces, retinaface_c.Model, retinaface_c.load_image,
                retinaface_c.input_tensor):
        assert obj.__doc__ and len(obj.__doc__) > 80, obj
    assert "threshold" in retinaface_c.Detector.detect.__annotations__
