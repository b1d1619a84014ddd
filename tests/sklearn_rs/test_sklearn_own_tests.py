"""scikit-learn's own test modules pass with sklearn_rs swapped in.

Each module listed in ``sklearn_own_tests/modules.toml`` is run by pytest in a fresh process
under ``python -m sklearn_rs`` (so the module imports our objects), with scikit-learn's float32
tests enabled. A module shared by many estimators runs only its ``select`` tests. The run must
have no failing test outside the reasoned deselect list, every select and deselect entry must
still match a test, and the names the module imported must be ours.
"""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "sklearn_own_tests"

with open(HERE / "modules.toml", "rb") as _fh:
    MODULES = tomllib.load(_fh)["module"]


def _env(module, report):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SKLEARN_RS_", "PYTEST_", "SKLEARN_TESTS_"))}
    inherited = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env.update(
        PYTHONPATH=os.pathsep.join([str(HERE), *inherited]),
        SKRS_OWN_TESTS_MODULE=module,
        SKRS_OWN_TESTS_REPORT=str(report),
        SKLEARN_RUN_FLOAT32_TESTS="1",
        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"),
    )
    return env


@pytest.mark.parametrize("config", MODULES, ids=[m["name"] for m in MODULES])
def test_sklearn_own_test_module_passes(config, tmp_path):
    for entry in config.get("deselect", []):
        assert entry.get("reason", "").strip(), f"deselect entry without a reason: {entry}"
    # An empty ini file in a fresh directory: none of this project's pytest settings apply.
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    report_path = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "sklearn_rs", "-m", "pytest", "--pyargs", config["name"],
         "-c", "pytest.ini", "--rootdir", ".", "-p", "no:cacheprovider",
         "-p", "skrs_own_tests_plugin", "-q", "-rfE", "--tb=short"],
        cwd=tmp_path, env=_env(config["name"], report_path), capture_output=True, text=True,
        timeout=1200,
    )
    assert report_path.exists(), proc.stdout[-5000:] + proc.stderr[-5000:]
    report = json.loads(report_path.read_text())
    assert all(report["ours"].values()), f"not sklearn_rs's objects: {report['ours']}"
    assert report["ours"].keys() == set(config["ours"])
    assert not report["unmatched_deselect"], (
        f"deselect entries that match no test: {report['unmatched_deselect']}")
    assert not report["unmatched_select"], (
        f"select entries that match no test: {report['unmatched_select']}")
    failed = sorted(t for t, o in report["outcomes"].items() if o not in ("passed", "skipped"))
    assert not failed, f"{len(failed)} failed: {failed}\n{proc.stdout[-8000:]}"
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    passed = sum(o == "passed" for o in report["outcomes"].values())
    print(f"{config['name']}: {passed} passed, {len(report['deselected'])} deselected")
    assert passed >= config.get("min_passed", 100), (
        "the module ran too few tests; was it collected?")
