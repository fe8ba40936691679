#!/usr/bin/env bash
# The kernel and ops tests under UndefinedBehaviorSanitizer: fastnn is built in a scratch copy of the
# tree with -fsanitize=undefined -fno-sanitize-recover (the first report aborts the test process, so a
# misaligned load, an overflow or an out-of-bounds shift fails the run), then a fast subset of the
# tests runs against that build. Usage: .ci/ubsan.sh [pytest args]  (default: the subset below)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp setup.py pyproject.toml README.md "$work"/
cp -r csrc tests "$work"/
mkdir "$work/fastnn"
(cd fastnn && find . -name '*.py' -o -name '*.pyx' -o -name '*.pxi' -o -name '*.pxd' -o -path './datasets/data/*' -type f) \
  | (cd fastnn && xargs cp --parents -t "$work/fastnn")
cd "$work"
export CFLAGS="-fsanitize=undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
export LDFLAGS="-fsanitize=undefined"
FASTNN_DEBUG=1 python setup.py -q build_ext --inplace > build.log 2>&1 || { tail -50 build.log; exit 1; }
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
if [ $# -eq 0 ]; then
  set -- tests/test_unaligned.py tests/test_kernels_simd.py tests/test_dense_op.py tests/test_gemm_threads.py \
    tests/test_nn_kernels.py tests/test_rnn_ops.py tests/test_quantize.py tests/test_conv_ops.py -x -q -p no:cacheprovider
fi
PYTHONPATH="$work" python -m pytest "$@"
echo "ubsan: no undefined behaviour reported (${root##*/}, $(date -u +%H:%M))"
