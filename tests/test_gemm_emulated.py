"""The AVX-512 micro-kernel checked on CPUs without AVX-512: tests/c/gemm_check.c builds the GEMM with
the kernel's intrinsics mapped to SIMDe's portable versions (Debian: libsimde-dev) and compares it
with the naive kernel. On CPUs with AVX-512 the ordinary tests run the real kernel instead."""
import shutil
import subprocess
from pathlib import Path

import pytest

from fastnn import _C

ROOT = Path(__file__).resolve().parent.parent
SIMDE = Path("/usr/include/simde/x86/avx512.h")


@pytest.mark.skipif(_C.cpu_supports("avx512"), reason="this CPU runs the AVX-512 kernel natively")
def test_avx512_kernel_under_emulation(tmp_path):
    if not SIMDE.exists() or shutil.which("gcc") is None:
        pytest.skip("needs gcc and SIMDe headers (apt-get install libsimde-dev)")
    csrc = ROOT / "csrc"
    isa_flags = {"kernel_avx2.c": ["-mavx2", "-mfma"],
                 "kernel_avx512.c": ["-mavx2", "-mfma", "-DFNN_EMULATE_AVX512"]}
    objects = []
    for src in [csrc / "cpu.c", csrc / "parallel.c", *sorted((csrc / "gemm").glob("*.c"))]:
        obj = tmp_path / (src.stem + ".o")
        flags = isa_flags.get(src.name, [])
        subprocess.run(["gcc", "-O2", "-std=c11", "-fopenmp", "-DFASTNN_X86", f"-I{csrc}", *flags,
                        "-c", str(src), "-o", str(obj)], check=True, capture_output=True)
        objects.append(str(obj))
    exe = tmp_path / "gemm_check"
    subprocess.run(["gcc", "-O2", "-std=c11", "-fopenmp", f"-I{csrc}", str(ROOT / "tests/c/gemm_check.c"),
                    *objects, "-lm", "-o", str(exe)], check=True, capture_output=True)
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    assert result.stdout.strip().endswith("0 failed")
