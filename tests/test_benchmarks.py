"""The asv suite is discoverable, compares every implementation with its peers, and its
benchmarks set up and run on tiny inputs (nothing is timed)."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = "300x3x4"


def test_asv_check_discovers_benchmarks():
    asv = os.path.join(os.path.dirname(sys.executable), "asv")
    if not os.path.exists(asv):
        pytest.skip("asv is not installed in this environment")
    proc = subprocess.run(
        [asv, "check", "-E", f"existing:{sys.executable}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No problems found" in proc.stdout, proc.stdout + proc.stderr


# Runs every KMeans benchmark method once on tiny data, in a fresh process (scikit-learn-intelex
# loads its own native libraries; they stay out of the test process), and prints the results.
_RUN_TINY_KMEANS = """
import json, os, sys
os.chdir(sys.argv[1])
from benchmarks import bench_kmeans as bk
impl, dtype, shape = sys.argv[2], sys.argv[3], sys.argv[4]
paths = bk.build_dataset(shapes=[shape], dtypes=[dtype])
results = {}
for cls in (bk.KMeansFit, bk.KMeansLloyd, bk.KMeansPredict):
    bench = cls()
    try:
        bench.setup(paths, shape, dtype, impl)
    except NotImplementedError as exc:
        print(json.dumps({"skipped": str(exc)}))
        sys.exit(0)
    assert bench.X.dtype == dtype and bench.X.shape == bk.parse_shape(shape)[:2]
    for name in dir(bench):
        if name.startswith(("time_", "peakmem_", "track_")):
            results[f"{cls.__name__}.{name}"] = getattr(bench, name)(paths, shape, dtype, impl)
results["torch imported"] = "torch" in sys.modules
print(json.dumps(results))
"""


@pytest.mark.parametrize("impl", ["sklearn_rs", "sklearn", "sklearnex"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kmeans_benchmarks_run_on_tiny_data(tmp_path, impl, dtype):
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_TINY_KMEANS, str(tmp_path), impl, dtype, TINY],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": REPO},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    if "skipped" in results:
        assert impl == "sklearnex"  # only the optional peer may be missing
        pytest.skip(results["skipped"])
    assert results.pop("torch imported") is False, "the KMeans benchmarks imported torch"
    assert set(results) == {
        "KMeansFit.time_fit", "KMeansFit.peakmem_fit", "KMeansFit.track_inertia",
        "KMeansLloyd.track_lloyd_seconds_per_iter", "KMeansLloyd.time_lloyd_fit_fixed_init",
        "KMeansPredict.time_predict", "KMeansPredict.time_transform",
    }
    assert results["KMeansFit.track_inertia"] > 0.0
    assert results["KMeansLloyd.track_lloyd_seconds_per_iter"] >= 0.0


def test_every_benchmark_compares_the_peer_set():
    from benchmarks import bench_fast_gelu as bg
    from benchmarks import bench_kmeans as bk
    from benchmarks.common import SKLEARN_PEERS, TORCH_PEERS

    assert SKLEARN_PEERS == ["sklearn_rs", "sklearn", "sklearnex"]
    assert TORCH_PEERS == ["torch_rs", "torch", "torch_compile"]
    for cls in (bk.KMeansFit, bk.KMeansLloyd, bk.KMeansPredict):
        assert cls.params[-1] == SKLEARN_PEERS and cls.param_names[-1] == "impl"
    assert bg.FastGelu.params[-1] == TORCH_PEERS and bg.FastGelu.param_names[-1] == "impl"


def test_kmeans_parameters_cover_the_issue_shapes():
    from benchmarks import bench_kmeans as bk

    shapes = {bk.parse_shape(s) for s in bk.SHAPES}
    assert shapes == {(200000, 50, 32), (100000, 64, 256), (1000000, 2, 16), (1000000, 8, 16)}
    assert set(bk.DTYPES) == {"float32", "float64"}


def test_data_is_deterministic():
    from benchmarks import bench_kmeans as bk

    a, ia = bk.make_data(500, 4, 5)
    b, ib = bk.make_data(500, 4, 5)
    assert (a == b).all() and (ia == ib).all()


@pytest.mark.parametrize("impl", ["torch_rs", "torch", "torch_compile"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_fast_gelu_benchmarks_run_or_skip(tmp_path, monkeypatch, impl, dtype):
    from benchmarks import bench_fast_gelu as bg
    from benchmarks.common import N_THREADS

    monkeypatch.setattr(bg, "SIZES", [1024, 4096])
    monkeypatch.chdir(tmp_path)
    bench = bg.FastGelu()
    paths = bench.setup_cache()
    try:
        bench.setup(paths, 1024, dtype, impl)
    except NotImplementedError:
        pytest.skip(f"{impl} is not importable")
    import torch

    assert torch.get_num_threads() == N_THREADS
    for name in ("time_forward", "time_forward_out", "time_backward"):
        method = getattr(bench, name)
        if (1024, dtype, impl) in getattr(method, "skip_params", []):
            assert (impl, name) == ("torch_compile", "time_forward_out")
            continue
        method(paths, 1024, dtype, impl)
    ref = torch.nn.functional.gelu(bench.x.float(), approximate="tanh")
    torch.testing.assert_close(bench.forward(bench.x).float(), ref, atol=2e-2, rtol=2e-2)
    ref_bwd = torch.ops.aten.gelu_backward(bench.grad.float(), bench.x.float(), approximate="tanh")
    torch.testing.assert_close(bench.backward(bench.grad, bench.x).float(), ref_bwd, atol=2e-2,
                               rtol=2e-2)


def test_fast_gelu_out_has_no_compiled_peer():
    from benchmarks import bench_fast_gelu as bg

    skipped = set(bg.FastGelu.time_forward_out.skip_params)
    assert skipped == {(s, d, "torch_compile") for s in bg.SIZES for d in bg.DTYPES}
    assert not hasattr(bg.FastGelu.time_forward, "skip_params")


def test_report_formats_a_results_file(tmp_path):
    from benchmarks import report

    machine = tmp_path / "results" / "box"
    machine.mkdir(parents=True)
    (tmp_path / "results" / "benchmarks.json").write_text(json.dumps({
        "bench_kmeans.KMeansFit.time_fit": {
            "param_names": ["shape", "dtype", "impl"], "unit": "seconds"},
    }))
    results = {
        "commit_hash": "abcdef0123456789", "env_name": "existing-py", "date": 1700000000000,
        "result_columns": ["result", "params"],
        "results": {"bench_kmeans.KMeansFit.time_fit": [
            [0.5, 2.0, float("nan")],
            [["'1x2x3'"], ["'float64'"], ["'sklearn_rs'", "'sklearn'", "'sklearnex'"]],
        ]},
    }
    path = machine / "abcdef01-existing-py.json"
    path.write_text(json.dumps(results))
    assert report.find_results_file(str(tmp_path / "results"), "abcdef0123") == str(path)
    data, rows = report.load_rows(str(path))
    text = report.markdown(data, rows)
    assert "| time_fit | 1x2x3, float64 | 500 ms | 2 s | **4.00x** |" in text
    png = tmp_path / "chart.png"
    assert report.plot(data, rows, str(png)) == str(png) and png.stat().st_size > 0


def test_every_benchmark_class_is_a_real_case_with_its_own_data():
    # asv collects every public class of a benchmark module that has benchmark methods: a mixin
    # imported by name would run (and fail) as a benchmark of its own and shadow the real
    # cases' rows in the report.
    import importlib
    import inspect

    sys.path.insert(0, REPO)
    try:
        for name in sorted(os.listdir(os.path.join(REPO, "benchmarks"))):
            if not (name.startswith("bench_") and name.endswith(".py")):
                continue
            module = importlib.import_module(f"benchmarks.{name[:-3]}")
            for attr, obj in vars(module).items():
                if attr.startswith("_") or not inspect.isclass(obj):
                    continue
                methods = [m for m in dir(obj) if m.startswith(("time_", "peakmem_", "track_"))]
                if methods:
                    assert obj.__module__ == module.__name__, (name, attr)
                    # asv shares one setup_cache result between the classes whose
                    # setup_cache is the same function: it must be this module's own.
                    assert inspect.getmodule(obj.setup_cache) is module, (name, attr)
    finally:
        sys.path.remove(REPO)



def _asv_time_benchmark(cls, name, param_idx=0, cache=None):
    """asv_runner's TimeBenchmark for ``cls.<name>``, as ``asv run`` builds it."""
    discovery = pytest.importorskip("asv_runner.discovery")
    bench = discovery._get_benchmark(name, sys.modules[__name__], cls, getattr(cls, name))
    bench.set_param_idx(param_idx)
    bench.set_cache(cache)
    return bench


def test_asv_sets_up_a_case_once_and_times_calls_on_the_same_state():
    # asv_runner 0.3 calls setup before every timed call of a class that has one; the suite's
    # setup builds its state on the first call only, so every timed call sees the same inputs,
    # as in a user's loop, and another parameter set is built afresh.
    from benchmarks.common import SetUpOnce

    builds, seen = [], []

    class Base(SetUpOnce):
        def setup(self, cache, n, impl):
            self.data = list(range(n))

    class Case(Base):
        params = [[10, 20], ["ours"]]
        param_names = ["n", "impl"]
        repeat = (5, 5, 10.0)
        warmup_time = 0.0

        def setup(self, cache, n, impl):  # an override calling super(), as several files do
            super().setup(cache, n, impl)
            self.total = sum(self.data)
            builds.append((n, id(self.data)))

        def time_call(self, cache, n, impl):
            seen.append(id(self.data))

    bench = _asv_time_benchmark(Case, "time_call", cache="paths")
    assert not bench.do_setup()
    assert len(bench.do_run()["samples"]) == 5
    assert [n for n, _ in builds] == [10]
    assert len(seen) >= 5 and set(seen) == {builds[0][1]}
    bench.set_param_idx(1)
    bench.do_setup()
    bench.do_run()
    assert [n for n, _ in builds] == [10, 20]
    assert seen[-1] == builds[-1][1]


def test_a_failed_setup_is_not_reused():
    from benchmarks.common import SetUpOnce

    calls = []

    class Case(SetUpOnce):
        def setup(self, n):
            calls.append(n)
            if n == 2:
                raise NotImplementedError
            self.n = n

    case = Case()
    case.setup(1)
    case.setup(1)
    with pytest.raises(NotImplementedError):
        case.setup(2)
    with pytest.raises(NotImplementedError):
        case.setup(2)
    case.setup(1)
    assert calls == [1, 2, 2, 1] and case.n == 1


def test_asv_collects_only_the_real_cases():
    # The timed-method mixins of common.py are not benchmarks of their own.
    discovery = pytest.importorskip("asv_runner.discovery")
    names = {b.name for b in discovery.disc_benchmarks(os.path.join(REPO, "benchmarks"))}
    assert names and not [n for n in names if n.startswith("common.")]
    assert "bench_kmeans.KMeansFit.time_fit" in names


def _write_results(results_dir, machine, commit, seconds):
    """An asv results file of one benchmark (two implementations) for ``commit``."""
    folder = results_dir / machine
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "machine.json").write_text(json.dumps({"machine": machine, "version": 1}))
    (folder / f"{commit[:8]}-existing-venv.json").write_text(json.dumps({
        "commit_hash": commit, "env_name": "existing-venv", "date": 1700000000000,
        "params": {"machine": machine}, "python": "3.11", "requirements": {}, "env_vars": {},
        "result_columns": ["result", "params", "version"],
        "results": {"bench_x.Case.time_call": [seconds, [["'ours'", "'peer'"]], "v1"]},
        "durations": {}, "version": 2,
    }))


@pytest.mark.parametrize("head_seconds, status", [
    ([0.105, 2.0], 0),   # 5% slower: within the threshold
    ([0.095, 2.0], 0),   # faster
    ([0.125, 2.0], 1),   # 25% slower: a regression
    ([None, 2.0], 1),    # started failing (asv records a failure as null)
])
def test_compare_fails_on_a_regression_over_ten_percent(tmp_path, capsys, head_seconds, status):
    pytest.importorskip("asv")
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    try:
        import bench_results
    finally:
        sys.path.remove(os.path.join(REPO, "scripts"))
    from asv.config import Config

    results = tmp_path / "results"
    results.mkdir()
    (results / "benchmarks.json").write_text(json.dumps({
        "bench_x.Case.time_call": {"name": "bench_x.Case.time_call", "type": "time",
                                   "unit": "seconds", "param_names": ["impl"],
                                   "params": [["'ours'", "'peer'"]], "version": "v1"},
        "version": 2}))
    base, head = "a" * 40, "b" * 40
    _write_results(results, "box", base, [0.1, 2.0])
    _write_results(results, "box", head, head_seconds)
    conf_path = tmp_path / "asv.conf.json"
    conf_path.write_text(json.dumps({"version": 1, "project": "p", "repo": str(REPO),
                                     "results_dir": str(results), "benchmark_dir": "b"}))
    conf = Config.load(str(conf_path))
    assert bench_results.compare_hashes(conf, [base, head], ("BASE", "HEAD"), 1.10) == status
    table = capsys.readouterr().out
    assert "time_call" in table and ("REGRESSION" in table) == bool(status)
