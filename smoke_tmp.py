import numpy as np, fastnn, time
from fastnn import _C
rng = np.random.default_rng(0)
def med(f, n=30):
    ts = []
    for _ in range(n):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return np.median(ts) * 1e6
m, k, n = 64, 1024, 1024
a = rng.integers(0, 256, (m, k), dtype=np.uint8); b = rng.integers(-127, 128, (k, n), dtype=np.int8); pb = _C.qgemm_pack(b)
x = rng.random((m, k)).astype(np.float32); y = np.empty((m, n), np.float32)
q = np.empty((m, k), np.uint8); rs = np.empty(m, np.float32); rz = np.empty(m, np.int32)
cs = b.sum(0, dtype=np.int32); sc = np.ones(n, np.float32); bias = np.zeros(n, np.float32)
wf = rng.random((k, n)).astype(np.float32)
with fastnn.threads(1):
  for path in ["avx512", "avx2"]:
    _C.simd_set(path)
    print(path, "qgemm %.1f" % med(lambda: _C.qgemm_u8s8(a, pb, n)), "qdense %.1f" % med(lambda: _C.qdense_forward(x, pb, cs, sc, bias, 1, 0.0, False, y, q, rs, rz)),
          "quant %.1f" % med(lambda: _C.quantize_rows_u8(x)), "sgemm %.1f" % med(lambda: _C.sgemm(x, wf)))
