"""A short soak (the full one is `make soak`): random calls of every registered estimator and op
against the library they replace, with per-call timeouts and the worker's memory watched."""

import os
import subprocess
import sys

SOAK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "soak.py")


def test_short_soak_finds_no_mismatch_crash_hang_or_growth():
    result = subprocess.run(
        [sys.executable, SOAK, "--seconds", "30", "--seed", "0", "--call-timeout", "60"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "soak: OK" in report
    # Both kinds of case ran.
    assert "estimator:" in report and "op:" in report, report
