"""Threads, SIMD path and seeds: the process-wide settings of fastnn."""
import contextlib
import os
import warnings

from . import _C

__all__ = ["set_num_threads", "get_num_threads", "max_threads", "threads", "show_config", "simd_path", "set_seed", "generator"]


def _available_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def max_threads():
    """The most threads fastnn accepts: 4 per CPU this process may run on, at most 256 (beyond that the
    OS refuses to create them, and more threads than cores only wait for one another)."""
    return min(256, 4 * _available_cpus())


def _default_threads():
    """FASTNN_NUM_THREADS, else OMP_NUM_THREADS (its first level), else the available CPUs; a count
    above max_threads() is clamped with a warning."""
    for name in ("FASTNN_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            if int(value) > max_threads():
                warnings.warn(f"fastnn: {name}={value} is more than the {max_threads()} threads fastnn "
                              f"allows on this machine; using {max_threads()}", RuntimeWarning, stacklevel=3)
                return max_threads()
            return int(value)
    return _available_cpus()


def set_num_threads(n):
    """Set how many threads fastnn's kernels may use: from 1 to max_threads().

    In a child process forked after a kernel ran on several threads, kernels run on one thread
    whatever this says (OpenMP's threads do not survive fork).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    if n > max_threads():
        raise ValueError(f"set_num_threads: expected at most {max_threads()} threads (4 per available CPU, "
                         f"at most 256), got {n}")
    _C.set_num_threads(n)


def get_num_threads():
    """How many threads fastnn's kernels may use (1 in a child forked after kernels ran threaded)."""
    return _C.get_num_threads()


@contextlib.contextmanager
def threads(n):
    """Run a block with n kernel threads, restoring the previous setting on exit.

    Example:
        >>> with fastnn.threads(1):
        ...     y = fastnn.ops.matmul(a, b)
    """
    previous = get_num_threads()
    set_num_threads(n)
    try:
        yield
    finally:
        _C.set_num_threads(previous)


def simd_path():
    """The SIMD path in use: 'scalar', 'avx2' or 'avx512'."""
    return _C.simd_get()


def show_config(file=None):
    """Print the version, SIMD path, OpenMP status, thread count and the GEMM's kernel and cache blocks."""
    from . import __version__

    supported = [p for p in _C.SIMD_PATHS if _C.cpu_supports(p)]
    lines = [
        f"fastnn {__version__}",
        f"  SIMD path: {simd_path()} (this CPU supports: {', '.join(supported)})",
        f"  OpenMP:    {'on' if _C.openmp_enabled() else 'off (built without it)'}",
        f"  threads:   {get_num_threads()}",
    ]
    gemm = _C.gemm_blocking()
    caches = ", ".join(f"L{level} {c['size'] >> 10} KiB {c['ways']}-way"
                       for level, c in enumerate(gemm["caches"], 1) if c["size"])
    lines.append(f"  GEMM:      {gemm['kernel']}, blocks mc {gemm['mc']} kc {gemm['kc']} nc {gemm['nc']} "
                 f"from {gemm['source']}" + (f" ({caches})" if caches else ""))
    print("\n".join(lines), file=file)


def _init_from_environment():
    """Apply FASTNN_SIMD and the default thread count once, at import; no thread starts here."""
    requested = os.environ.get("FASTNN_SIMD", "").strip().lower()
    if requested:
        _C.simd_set(requested)
    _C.set_num_threads(_default_threads())


_generator = None


def set_seed(seed):
    """Seed every random draw fastnn makes (initialisers, shuffling, dropout), so runs repeat exactly."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"set_seed: expected a non-negative int, got {seed!r}")
    import numpy as np

    _generator = np.random.default_rng(seed)


def generator():
    """The numpy Generator behind all of fastnn's randomness (seeded from the OS until set_seed)."""
    global _generator
    if _generator is None:
        import numpy as np

        _generator = np.random.default_rng()
    return _generator
