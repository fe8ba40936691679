"""Coverage-guided fuzzing of the model-file loader with atheris (libFuzzer), for long runs outside CI.

Each fuzzer input is a stream of choices that picks a seed file and the mutations applied to it
(model_file_mutations.py, shared with the Hypothesis test in CI), so libFuzzer's coverage feedback steers
which paths through the zip, JSON, safetensors and config checks get explored. A finding is any exception
other than ModelFileError/OSError, a crash, a case over -timeout seconds, or memory over -rss_limit_mb.

Usage (atheris is not a test dependency: pip install atheris in a venv of your own):
    python tests/fuzz_model_files.py -max_total_time=1800 -timeout=10 -rss_limit_mb=2048 [corpus_dir]
libFuzzer's last line counts the cases run ("Done N runs"); every REPORT_EVERY cases the outcomes so far
are printed.
"""
import collections
import os
import sys
import tempfile
import tracemalloc

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

with atheris.instrument_imports(include=["fastnn", "zipfile", "json", "model_file_mutations"]):
    import model_file_mutations as mutations

REPORT_EVERY = 10_000
OUTCOMES = collections.Counter()
CASE_PATH = os.path.join(tempfile.mkdtemp(prefix="fastnn-fuzz-"), "case.fnn")


def one_input(data):
    kind, file_bytes = mutations.fuzz_case(mutations.FuzzedChoices(atheris.FuzzedDataProvider(data)))
    OUTCOMES[mutations.check_load(file_bytes, kind, CASE_PATH)] += 1
    total = sum(OUTCOMES.values())
    if total % REPORT_EVERY == 0:
        print(f"model-file fuzz (atheris): {total} cases: "
              + ", ".join(f"{count} {outcome}" for outcome, count in sorted(OUTCOMES.items())), flush=True)


if __name__ == "__main__":
    mutations.seeds()
    tracemalloc.start()  # once: check_load measures each case's peak with reset_peak
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
