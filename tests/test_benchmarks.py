"""The asv suite is discoverable, compares every implementation with its peers, and every
benchmark sets up and runs once on tiny data for every implementation, doing its work with the
implementation it names (nothing is timed)."""

import functools
import importlib
import itertools
import json
import os
import subprocess
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


# --- every benchmark once on tiny data (tests/bench_smoke.py) ---------------------------------
#
# One fresh process for scikit-learn and sklearn_rs, one for scikit-learn-intelex (it loads its
# own native libraries), one for the op implementations and the Llama model (torch, the
# compiler and the op benchmarks' data are then loaded once): an estimator process must not
# import torch, nor the torch process sklearn_rs. One thread: on a loaded 2-core machine
# every 2-thread parallel region can stall for milliseconds (the smoke run took 6x longer).

SMOKE = os.path.join(REPO, "tests", "bench_smoke.py")
SMOKE_THREADS = 1
SMOKE_GROUPS = [("sklearn_rs", "sklearn"), ("sklearnex",),
                ("torch_rs", "torch", "torch_compile", "llama")]

#: (benchmark, data parameters) that sklearn_rs runs with scikit-learn's code, as the benchmark's
#: docstring and the README's fallback list say (none at present: the neighbours cases that used
#: scikit-learn's k-d tree now run the Rust one).
SKLEARN_RS_FALLBACKS: set = set()


def _sklearnex_skips(records):
    """The cases scikit-learn-intelex cannot run (setups and methods): it has no StandardScaler,
    MiniBatchKMeans nor RadiusNeighborsClassifier, and DBSCAN's 500000x2 case is in
    ``bench_dbscan.TOO_SLOW``."""

    def skipped(r):
        name = r["benchmark"]
        return (name.startswith(("bench_scaler.", "bench_kmeans.MiniBatchKMeans"))
                or (name.startswith("bench_dbscan.") and r["params"][0] == "'500000x2'")
                or (name.startswith("bench_neighbors.")
                    and r["params"][0] == "'radius-clf-100000x16'"))

    return {(r["benchmark"], tuple(r["params"]), "skipped") for r in records
            if r["params"] and skipped(r)}


#: The operator that the torch_rs case of each op benchmark must call.
RS_OPS = {
    "bench_fast_gelu": "rs::fast_gelu",
    "bench_rms_norm": "rs::rms_norm",
    "bench_rope": "rs::rope",
    "bench_cross_entropy": "rs::cross_entropy",
}


@pytest.fixture(scope="module")
def smoke():
    """``smoke(impl)``: the records of ``impl``'s cases, from its group's process (run once)."""
    runs = {}

    def records_of(impl):
        group = next(g for g in SMOKE_GROUPS if impl in g)
        if group not in runs:
            runs[group] = _run_smoke(group)
        result = runs[group]
        if impl in result["unavailable"]:
            assert impl in ("sklearnex", "torch", "torch_compile", "torch_rs", "llama")
            pytest.skip(result["unavailable"][impl])
        if impl == "llama":
            records = [r for r in result["records"] if r["benchmark"].startswith("bench_llama.")]
        else:  # setup_cache's records (no parameters) go with every implementation
            records = [r for r in result["records"]
                       if not r["params"] or r["params"][-1] == repr(impl)]
        errors = [r for r in records if r["status"] == "error"]
        assert not errors, "\n".join(f"{r['benchmark']} {r['params']}:\n{r['detail']}"
                                     for r in errors)
        return result, records

    return records_of


def _run_smoke(impls):
    # A directory of its own, removed at once: the op benchmarks' setup_cache writes ~600 MB.
    with tempfile.TemporaryDirectory(prefix="bench-smoke-") as workdir:
        return _run_smoke_in(impls, workdir)


def _run_smoke_in(impls, workdir):
    out = os.path.join(workdir, "smoke.json")
    proc = subprocess.run(
        [sys.executable, SMOKE, out, workdir, *impls],
        cwd=REPO, capture_output=True, text=True, timeout=900,
        # Inductor compiles in this process (no pool of compile workers), and scalar C++ kernels:
        # no probing of the CPU's vector ISAs, half the time with a cold compile cache (which
        # instructions the kernels use is torch's business, not the benchmarks').
        env={**os.environ, "PYTHONPATH": REPO, "BENCH_TINY": "1",
             "BENCH_NUM_THREADS": str(SMOKE_THREADS), "TORCHINDUCTOR_COMPILE_THREADS": "1",
             "TORCHINDUCTOR_VEC_ISA_OK": "0"},
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    with open(out) as f:
        return json.load(f)


def _asv_cases(impl):
    """(benchmark, parameters) of every case asv runs for ``impl``, by asv's own discovery in
    this process, where BENCH_TINY is not set (so the smoke run, which must run exactly these
    cases, also shows that smoke mode keeps every parameter)."""
    cases = set()
    for name, params in _asv_benchmarks():
        if repr(impl) in params[-1]:
            cases |= {(name, (*combo, repr(impl))) for combo in itertools.product(*params[:-1])}
    return cases


@functools.cache
def _asv_benchmarks():
    discovery = pytest.importorskip("asv_runner.discovery")
    assert os.environ.get("BENCH_TINY", "0") != "1", "unset BENCH_TINY to run the tests"
    return [(bench.name, bench.params)
            for bench in discovery.disc_benchmarks(os.path.join(REPO, "benchmarks"))]


def _method_records(records):
    return [r for r in records if r["benchmark"].rsplit(".", 1)[1].startswith(
        ("time_", "peakmem_", "track_"))]


def _case(record):
    """(module.Class, data parameters) of a record."""
    return record["benchmark"].rsplit(".", 1)[0], tuple(record["params"][:-1])


def _check_coverage_and_skips(impl, records, expected_skips):
    methods = _method_records(records)
    cases = _asv_cases(impl)
    assert {(r["benchmark"], tuple(r["params"])) for r in methods} == cases
    assert len(methods) == len(cases)  # each case once
    skipped = {(r["benchmark"], tuple(r["params"]), r["status"]) for r in records
               if r["status"] != "ok"}
    assert skipped == expected_skips, skipped ^ expected_skips
    return [r for r in methods if r["status"] == "ok"]


def _peakmem_skips(records):
    """The ``peakmem_*`` cases outside their class's ``memory_cases`` (asv's skip_params)."""
    skips = set()
    for r in records:
        class_path, _, method = r["benchmark"].rpartition(".")
        if not (method.startswith("peakmem_") and r["params"]):
            continue
        module, cls = class_path.split(".")
        cases = getattr(importlib.import_module(f"benchmarks.{module}"), cls).memory_cases
        if cases is not None and tuple(r["params"][:len(cases[0])]) not in {
                tuple(map(repr, case)) for case in cases}:
            skips.add((r["benchmark"], tuple(r["params"]), "skip_params"))
    return skips


@pytest.mark.parametrize("impl", ["sklearn_rs", "sklearn", "sklearnex"])
def test_every_estimator_benchmark_runs_on_tiny_data(smoke, impl):
    result, records = smoke(impl)
    expected_skips = _peakmem_skips(records)
    peakmem_skipped = {(name, params) for name, params, _ in expected_skips}
    assert peakmem_skipped, "no class measures peak memory on one case only"
    if impl == "sklearnex":
        expected_skips |= {s for s in _sklearnex_skips(records) if s[:2] not in peakmem_skipped}
    ran = _check_coverage_and_skips(impl, records, expected_skips)
    assert result["loaded"]["torch"] is False, "an estimator benchmark imported torch"
    assert result["loaded"]["sklearn_rs"] is (impl != "sklearnex")
    package = {"sklearn_rs": "sklearn_rs.", "sklearn": "sklearn.", "sklearnex": "sklearnex."}[impl]
    for r in ran:
        where = f"{r['benchmark']} {r['params']}"
        assert r["estimator_module"].startswith(package), where
        assert r.get("model_module", package).startswith(package), where
        if impl != "sklearn_rs":
            assert r["core_calls"] == 0, where
            continue
        # Our estimators did the work in Rust, unless the case is a documented fallback.
        if _case(r) in SKLEARN_RS_FALLBACKS:
            assert r["fallbacks"], where
        else:
            assert r["core_calls"] > 0 and not r["fallbacks"], (where, r["fallbacks"])
    setups = [r for r in records if r["benchmark"].endswith(".setup") and r["status"] == "ok"]
    assert not [r for r in setups if r["fallbacks"] and _case(r) not in SKLEARN_RS_FALLBACKS]
    if impl != "sklearn_rs":
        assert not [r for r in setups if r["core_calls"]]
    tracks = {r["benchmark"]: r["value"] for r in ran if "value" in r}
    assert tracks["bench_kmeans.KMeansFit.track_inertia"] > 0.0


@pytest.mark.parametrize("impl", ["torch_rs", "torch", "torch_compile"])
def test_every_op_benchmark_runs_on_tiny_data(smoke, impl):
    result, records = smoke(impl)
    expected_skips = set()
    if impl == "torch_compile":  # out= has no compiled form
        expected_skips = {(r["benchmark"], tuple(r["params"]), "skip_params") for r in records
                          if r["benchmark"] == "bench_fast_gelu.FastGelu.time_forward_out"}
        assert expected_skips
    ran = _check_coverage_and_skips(impl, records, expected_skips)
    assert result["loaded"]["sklearn_rs"] is False
    for r in ran:
        where = f"{r['benchmark']} {r['params']}"
        module, cls, method = r["benchmark"].split(".")
        assert r["threads"] == SMOKE_THREADS, where
        if impl == "torch_rs":
            op = RS_OPS.get(module)
            if module == "bench_rms_norm" and method.startswith("time_add_"):
                op = "rs::add_rms_norm"
            if module == "bench_silu_mul":
                op = "rs::silu_mul" if r["params"][2] == "'silu'" else "rs::gelu_tanh_mul"
            assert any(name.startswith(op) for name in r["rs_ops"]), (where, r["rs_ops"])
            assert not r["compiled_region"], where
        else:
            assert r["rs_ops"] == [], where
            assert r["compiled_region"] is (impl == "torch_compile"), where
    # A timed call runs what setup built: setup compiled every graph it calls (under no_grad
    # and with autograd).
    compiling = {r["benchmark"] for r in ran if r["graphs_compiled"]}
    assert compiling == set()


def test_llama_benchmark_runs_every_variant_on_tiny_data(smoke):
    # All variants in one process: each must leave no patch behind, and "unpatched" must not be
    # read as patched ("patched" is a substring of it).
    from benchmarks import bench_llama
    from torch_rs._inductor import KERNEL_WINS

    result, records = smoke("llama")
    variants = {r["params"][0]: r for r in records if r["benchmark"] == "bench_llama.run_one"}
    assert set(variants) == {repr(v) for v in bench_llama.VARIANTS}
    for variant, r in variants.items():
        patched, compiled = {"'unpatched'": (False, False), "'patched'": (True, False),
                             "'compiled'": (False, True),
                             "'patched+compiled'": (True, True)}[variant]
        # Patched: the model's norms and MLPs are torch_rs modules, and its norms, MLPs, rotary
        # embedding and loss run rs:: operators. Compiled, the graph calls their forward and
        # backward parts (e.g. rs::rms_norm_forward) where the compile policy keeps the kernel
        # and inductor's code of their decompositions elsewhere.
        assert (r["torch_rs_modules"] > 0) is patched, variant
        families = {"rs::rms_norm": "rms_norm", "rs::silu_mul": "glu", "rs::rope": "rope",
                    "rs::cross_entropy": "cross_entropy"}
        ran = {op for op in families if any(name.startswith(op) for name in r["rs_ops"])}
        kept = {op for op, family in families.items()
                if not compiled or max(KERNEL_WINS[family].values()) > 0}
        assert ran == (kept if patched else set()), (variant, r["rs_ops"])
        assert r["compiled_region"] is compiled, variant
        assert r["value"]["step_s"] >= 0.0
    decode = {r["params"][0]: r for r in records if r["benchmark"] == "bench_llama.decode_latency"}
    assert set(decode) == {"False", "True"}
    assert decode["False"]["rs_ops"] == []
    assert {"rs::rms_norm", "rs::silu_mul", "rs::rope"} <= set(decode["True"]["rs_ops"])


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
