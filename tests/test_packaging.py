"""The sdist holds every file of the repository a build and the tests need, its metadata uses an SPDX
license expression, and the built extension carries no debug info."""
import importlib.util
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from fastnn import _C

ROOT = Path(__file__).resolve().parent.parent
# Files of the repository that only concern git.
NOT_SHIPPED = {".gitignore"}


def tracked_files():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (the sdist is checked against `git ls-files`)")
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    # a file deleted in the work tree but not yet in git is not the sdist's concern
    return {name for name in listing.decode().split("\0") if name and (ROOT / name).exists()}


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    if importlib.util.find_spec("build") is None:
        pytest.skip("the `build` package is not installed")
    expected = tracked_files()
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out),
                             str(ROOT)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (archive,) = out.glob("fastnn-*.tar.gz")
    with tarfile.open(archive) as tar:
        members = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if "/" in m.name and m.isfile()}
        pkg_info = tar.extractfile(members["PKG-INFO"]).read().decode()
    return expected, set(members), pkg_info, result.stdout + result.stderr


def test_sdist_holds_every_tracked_source_test_benchmark_and_doc(sdist):
    expected, shipped, _, _ = sdist
    missing = sorted(expected - NOT_SHIPPED - shipped)
    assert not missing, f"missing from the sdist: {missing}"
    for needed in ("fastnn/_C.pyx", "fastnn/_bind_common.pxi", "csrc/common.h", "csrc/vmath.h",
                   "csrc/gemm/gemm_internal.h", "tests/conftest.py", "tests/reference.py", "tests/layer_helpers.py",
                   "LICENSE", "setup.py", "pyproject.toml"):
        assert needed in shipped
    assert any(name.startswith("tests/c/") for name in shipped)


def test_sdist_leaves_out_build_products(sdist):
    _, shipped, _, _ = sdist
    built = [name for name in shipped if name.endswith((".so", ".o", ".pyc", ".pyd")) or name == "fastnn/_C.c"]
    assert not built


def test_license_is_an_spdx_expression_without_deprecation_warnings(sdist):
    _, _, pkg_info, log = sdist
    assert "License-Expression: MIT AND CC-BY-4.0" in pkg_info
    assert "License-File: LICENSE" in pkg_info
    assert "project.license" not in log and "TOML table" not in log


def test_the_built_extension_has_no_debug_info():
    if sys.platform != "linux" or _C.__file__.endswith(".pyx"):
        pytest.skip("checks an ELF shared object")
    data = Path(_C.__file__).read_bytes()
    assert data[:4] == b"\x7fELF"
    # section names live in the section header string table: no DWARF, no static symbol table
    assert b".debug_info" not in data and b".symtab" not in data, f"{_C.__file__} has debug info or symbols"
