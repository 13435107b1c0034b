"""setup.py - builds libretinaface.so with CMake and ships it inside the retinaface_c package.

Where the library comes from (first that applies):
  RETINAFACE_LIBRARY=FILE      an already built libretinaface.so (copied into the package)
  otherwise                    the C sources at RETINAFACE_SOURCE_DIR (default: the folder above
                               this one, the repository), configured and built with CMake in
                               RETINAFACE_CMAKE_BUILD_DIR (default: build/libretinaface here);
                               target retinaface_shared
RETINAFACE_PY_BUILD_DIR=DIR puts setuptools' own build/ and .egg-info there instead of here
(the tests use it to keep the source tree untouched). Everything else is in pyproject.toml.
"""
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
LIBRARY_FILE = "libretinaface.so.0"  # the name of the copy in the package, which _lib.py loads


def _run(cmd):
    print("+ " + " ".join(cmd), flush=True)
    subprocess.check_call(cmd)


def build_library() -> str:
    """The path of a libretinaface shared library: given, or built here with CMake."""
    given = os.environ.get("RETINAFACE_LIBRARY")
    if given:
        if not os.path.isfile(given):
            raise SystemExit(f"RETINAFACE_LIBRARY={given}: no such file")
        return given
    src = os.path.abspath(os.environ.get("RETINAFACE_SOURCE_DIR", os.path.join(HERE, "..")))
    cmakelists = os.path.join(src, "CMakeLists.txt")
    if not os.path.isfile(cmakelists) or "retinaface_shared" not in open(cmakelists).read():
        raise SystemExit(f"{src}: not the retinaface.c source tree (no CMakeLists.txt with "
                         "target retinaface_shared); set RETINAFACE_SOURCE_DIR to it, or "
                         "RETINAFACE_LIBRARY to a built libretinaface.so")
    if shutil.which("cmake") is None:
        raise SystemExit("cmake not found: install it (Debian: apt-get install cmake "
                         "build-essential libpng-dev libjpeg62-turbo-dev zlib1g-dev), or set "
                         "RETINAFACE_LIBRARY to a built libretinaface.so")
    build = os.path.abspath(os.environ.get("RETINAFACE_CMAKE_BUILD_DIR",
                                           os.path.join(HERE, "build", "libretinaface")))
    if not os.path.isfile(os.path.join(build, "CMakeCache.txt")):
        _run(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release"])
    _run(["cmake", "--build", build, "--target", "retinaface_shared",
          "-j", str(os.cpu_count() or 1)])
    lib = os.path.join(build, "libretinaface.so")  # links to the versioned file
    if not os.path.exists(lib):
        raise SystemExit(f"the CMake build did not produce {lib}")
    return lib


class BuildPyWithLibrary(build_py):
    """build_py that also puts the shared library into the package."""

    def run(self):
        super().run()
        lib = os.path.realpath(build_library())
        dest = os.path.join(self.build_lib, "retinaface_c", LIBRARY_FILE)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(lib, dest)
        os.chmod(dest, 0o755)


class BinaryDistribution(Distribution):
    """The wheel holds a native library: tag it for this platform, not py3-none-any."""

    def has_ext_modules(self):
        return True


def _build_dir_options() -> dict:
    base = os.environ.get("RETINAFACE_PY_BUILD_DIR")
    if not base:
        return {}
    base = os.path.abspath(base)
    os.makedirs(base, exist_ok=True)
    return {"build": {"build_base": os.path.join(base, "build")},
            "egg_info": {"egg_base": base}}


setup(cmdclass={"build_py": BuildPyWithLibrary}, distclass=BinaryDistribution,
      options=_build_dir_options())
