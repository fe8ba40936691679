"""Build the fastnn._C extension.

The C kernels are compiled with portable flags; only the per-ISA files named in ISA_FLAGS (the GEMM
micro-kernels and the builds of the elementwise families in csrc/isa/) get their instruction-set
flags, so the package runs on any x86-64 (or other) CPU and picks its SIMD path at import. The
elementwise family sources (PER_ISA_SOURCES) are compiled only inside those builds. OpenMP is detected by compiling a probe program; FASTNN_NO_OPENMP=1 opts out.
"""
import glob
import os
import platform
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

IS_X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")
# -ffp-contract=fast lets gcc fuse a * b + c into one FMA (the default outside ISO C mode): vmath.h's
# polynomials and the optimizer updates then take ~30 % fewer instructions, and differ from the
# scalar path (no FMA) by an ulp or two. GEMM micro-kernels and elementwise builds of one path share
# these flags, so an activation fused into a GEMM epilogue gives the activation kernel's bits.
AVX2_FLAGS = ["-mavx2", "-mfma", "-ffp-contract=fast"]
AVX512_FLAGS = ["-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma", "-ffp-contract=fast"]
ISA_FLAGS = {
    "kernel_avx2.c": AVX2_FLAGS,
    "kernel_avx512.c": AVX512_FLAGS,
    "elementwise_avx2.c": AVX2_FLAGS,
    "elementwise_avx512.c": AVX512_FLAGS,
    # int8 GEMM micro-kernels: integer only, so no FMA flags (the float epilogue is in portable qdense.c)
    "qgemm_avx2.c": ["-mavx2"],
    "qgemm_avx512.c": ["-mavx512f", "-mavx512bw", "-mavx512vnni"],
}
# Included by csrc/isa/elementwise_<isa>.c, once per instruction set; never compiled on their own.
PER_ISA_SOURCES = {"activations.c", "losses.c", "optim.c", "reduce.c", "metrics.c", "lstm_cell.c"}
BASE_FLAGS = ["-O3", "-std=c11", "-fno-math-errno", "-Wall", "-Wno-unused-function"]
# A release .so carries no symbols beyond its exports (the GNU linker's --strip-all; macOS's ld differs).
STRIP_FLAGS = ["-Wl,--strip-all"] if sys.platform.startswith("linux") else []


def c_sources():
    sources = sorted(glob.glob("csrc/*.c")) + sorted(glob.glob("csrc/*/*.c"))
    sources = [s for s in sources if os.path.basename(s) not in PER_ISA_SOURCES]
    if not IS_X86:
        sources = [s for s in sources if os.path.basename(s) not in ISA_FLAGS]
    return sources


def openmp_works(compiler):
    """Compile and link a tiny OpenMP program; True when the toolchain supports -fopenmp."""
    if os.environ.get("FASTNN_NO_OPENMP") == "1":
        return False
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write("#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n")
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=["-fopenmp"])
            compiler.link_executable(objs, os.path.join(tmp, "probe"), extra_postargs=["-fopenmp"])
        except Exception:
            return False
    return True


def build_jobs(requested):
    """Compiler processes to run at once: FASTNN_BUILD_JOBS, else build_ext's -j, else the CPUs we may use."""
    env = os.environ.get("FASTNN_BUILD_JOBS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    if requested and requested is not True:
        return int(requested)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def compile_in_parallel(compiler, jobs):
    """Replace compiler.compile with one that runs each source's compiler process on a thread pool.

    setuptools compiles the sources of one extension one after another (its -j only runs separate
    extensions at once), and pip passes no -j at all; fastnn is one extension of ~40 C files, so
    its build was serial. The biggest unit (the Cython bindings) is submitted first.
    """
    def compile(sources, output_dir=None, macros=None, include_dirs=None, debug=False, extra_preargs=None,
                extra_postargs=None, depends=None):
        macros, objects, extra_postargs, pp_opts, build = compiler._setup_compile(
            output_dir, macros, include_dirs, sources, depends, extra_postargs)
        cc_args = compiler._get_cc_args(pp_opts, debug, extra_preargs)
        todo = sorted((obj for obj in objects if obj in build), key=lambda obj: -os.path.getsize(build[obj][0]))
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for done in [pool.submit(compiler._compile, obj, *build[obj], cc_args, extra_postargs, pp_opts)
                         for obj in todo]:
                done.result()
        return objects

    compiler.compile = compile


def without_debug_info(command):
    """A compiler or linker command without -g: a release build carries no debug info (FASTNN_DEBUG=1
    keeps it)."""
    return [arg for arg in command if not (arg == "-g" or arg.startswith("-g") and arg[2:].isdigit())]


class BuildExt(build_ext):
    def build_extensions(self):
        compiler = self.compiler
        use_openmp = openmp_works(compiler)
        if not use_openmp:
            warnings.warn("fastnn: building without OpenMP; kernels will run on one thread")
        release = os.environ.get("FASTNN_DEBUG") != "1" and compiler.compiler_type == "unix"
        if release:
            compiler.compiler_so = without_debug_info(compiler.compiler_so)
            compiler.linker_so = without_debug_info(compiler.linker_so)
        for ext in self.extensions:
            ext.extra_compile_args = BASE_FLAGS + (["-fopenmp"] if use_openmp else [])
            ext.extra_link_args = (["-fopenmp"] if use_openmp else []) + (STRIP_FLAGS if release else [])
            if IS_X86:
                ext.define_macros.append(("FASTNN_X86", "1"))
        original_compile = compiler._compile

        def compile_with_isa_flags(obj, src, ext, cc_args, extra_postargs, pp_opts):
            extra = list(extra_postargs) + ISA_FLAGS.get(os.path.basename(src), [])
            return original_compile(obj, src, ext, cc_args, extra, pp_opts)

        compiler._compile = compile_with_isa_flags
        compile_in_parallel(compiler, build_jobs(self.parallel))
        super().build_extensions()


def c_dependencies():
    """Headers and the sources included by the per-ISA builds: when one changes, every object is rebuilt
    (setuptools otherwise compares each object with its own .c file only)."""
    return sorted(glob.glob("csrc/**/*.h", recursive=True)) + sorted(
        s for s in glob.glob("csrc/**/*.c", recursive=True) if os.path.basename(s) in PER_ISA_SOURCES)


extension = Extension(
    "fastnn._C",
    sources=["fastnn/_C.pyx"] + c_sources(),
    depends=c_dependencies(),
    include_dirs=["csrc", numpy.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
)

setup(
    ext_modules=cythonize(
        [extension],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
    cmdclass={"build_ext": BuildExt},
)
