"""Running a Hypothesis test in seeded chunks until a time budget is spent, as the fuzz tests do."""
import signal
import time
from contextlib import contextmanager

from hypothesis import seed


def run_for(case, budget_seconds, first_seed, case_seconds):
    """Runs `case` (a @given test) with seeds first_seed, first_seed + 1, ... until budget_seconds have
    passed; a case that arms `case_alarm` and runs over case_seconds raises TimeoutError (a hang).
    Returns (chunks run, seconds taken)."""
    def hang(signum, frame):
        raise TimeoutError(f"one fuzz case ran longer than {case_seconds} s")

    previous = signal.signal(signal.SIGALRM, hang)
    start = time.monotonic()
    chunks = 0
    try:
        while time.monotonic() - start < budget_seconds:
            seed(first_seed + chunks)(case)()
            chunks += 1
    finally:
        signal.signal(signal.SIGALRM, previous)
    return chunks, time.monotonic() - start


@contextmanager
def case_alarm(seconds):
    """SIGALRM after `seconds` unless the block ends first (run_for turns it into TimeoutError)."""
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
