"""Property-based fuzzing of the model-file loader under a time budget (Hypothesis).

Generated files (mutations of valid .fnn and safetensors files at the byte, zip, JSON and safetensors
levels, see model_file_mutations.py) must load or raise ModelFileError (OSError for I/O): never another
exception, a crash, a hang or unbounded memory. FASTNN_FUZZ_SECONDS sets the budget (default 20 s),
FASTNN_FUZZ_SEED the first seed; the case count is printed in the test summary. For long coverage-guided
runs see tests/fuzz_model_files.py (atheris).
"""
import collections
import os
import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import model_file_mutations as mutations
from fuzz_budget import case_alarm, run_for

BUDGET_SECONDS = float(os.environ.get("FASTNN_FUZZ_SECONDS", "20"))
FIRST_SEED = int(os.environ.get("FASTNN_FUZZ_SEED", "20240"))
CASE_SECONDS = 10  # one file taking longer than this is a hang
CHUNK = 100  # examples per Hypothesis run; runs repeat with the next seed until the budget is spent


def test_fuzzed_model_files_only_raise_modelfileerror(tmp_path, fuzz_report):
    path = os.fspath(tmp_path / "case.fnn")
    outcomes = collections.Counter()
    mutations.seeds()  # build the seed files outside the budget

    @settings(max_examples=CHUNK, deadline=None, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(st.randoms(use_true_random=False))
    def case(rng):
        kind, data = mutations.fuzz_case(rng)
        # traced only while loading: Hypothesis itself runs 8x slower traced (the ~2 KB each start/stop
        # leaks is nothing in a bounded run)
        tracemalloc.start()
        try:
            with case_alarm(CASE_SECONDS):
                outcomes[mutations.check_load(data, kind, path)] += 1
        finally:
            tracemalloc.stop()

    chunks, elapsed = run_for(case, BUDGET_SECONDS, FIRST_SEED, CASE_SECONDS)
    total = sum(outcomes.values())
    fuzz_report(f"model-file fuzz: {total} cases in {elapsed:.1f} s (seeds {FIRST_SEED}..{FIRST_SEED + chunks - 1}): "
                + ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())))
    assert outcomes["refused"] > 0 and outcomes["loaded"] > 0  # the mutations reach both sides of the checks
