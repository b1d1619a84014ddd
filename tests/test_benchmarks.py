"""The asv suite is discoverable and its benchmarks set up and run on tiny inputs (nothing is timed)."""

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


def test_kmeans_benchmarks_never_import_torch(tmp_path):
    code = (
        "import os, sys\n"
        f"os.chdir({str(tmp_path)!r})\n"
        "from benchmarks import bench_kmeans as bk\n"
        f"paths = bk.build_dataset(shapes=[{TINY!r}], dtypes=['float64'])\n"
        "for cls in (bk.KMeansFit, bk.KMeansLloyd, bk.KMeansPredict):\n"
        "    b = cls()\n"
        f"    b.setup(paths, {TINY!r}, 'float64', 'sklearn_rs')\n"
        f"    b.track_inertia(paths, {TINY!r}, 'float64', 'sklearn_rs') if cls is bk.KMeansFit else None\n"
        "assert 'torch' not in sys.modules, 'sklearn_rs benchmarks imported torch'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": REPO},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("impl", ["sklearn_rs", "sklearn", "sklearnex"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kmeans_benchmarks_run_on_tiny_data(tmp_path, monkeypatch, impl, dtype):
    from benchmarks import bench_kmeans as bk

    monkeypatch.chdir(tmp_path)
    paths = bk.build_dataset(shapes=[TINY], dtypes=[dtype])
    for cls in (bk.KMeansFit, bk.KMeansLloyd, bk.KMeansPredict):
        bench = cls()
        try:
            bench.setup(paths, TINY, dtype, impl)
        except NotImplementedError:
            assert impl == "sklearnex"  # only the optional peer may be skipped
            return
        assert bench.X.dtype == dtype and bench.X.shape == (300, 3)
        for name in dir(bench):
            if name.startswith(("time_", "peakmem_", "track_")):
                result = getattr(bench, name)(paths, TINY, dtype, impl)
                if name.startswith("track_"):
                    assert result >= 0.0


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


@pytest.mark.parametrize("impl", ["torch_rs", "torch"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_fast_gelu_benchmarks_run_or_skip(tmp_path, monkeypatch, impl, dtype):
    from benchmarks import bench_fast_gelu as bg

    monkeypatch.setattr(bg, "SIZES", [1024, 4096])
    monkeypatch.chdir(tmp_path)
    bench = bg.FastGelu()
    paths = bench.setup_cache()
    try:
        bench.setup(paths, 1024, dtype, impl)
    except NotImplementedError:
        pytest.skip(f"{impl} is not importable")
    import torch

    assert torch.get_num_threads() == bg.N_THREADS
    for name in ("time_forward", "time_forward_out", "time_backward"):
        getattr(bench, name)(paths, 1024, dtype, impl)
    ref = torch.nn.functional.gelu(bench.x.float(), approximate="tanh")
    torch.testing.assert_close(bench.forward(bench.x).float(), ref, atol=2e-2, rtol=2e-2)


def test_report_formats_a_results_file(tmp_path):
    from benchmarks import report

    machine = tmp_path / "results" / "box"
    machine.mkdir(parents=True)
    (tmp_path / "results" / "benchmarks.json").write_text(json.dumps({
        "bench_kmeans.KMeansFit.time_fit_default": {
            "param_names": ["shape", "dtype", "impl"], "unit": "seconds"},
    }))
    results = {
        "commit_hash": "abcdef0123456789", "env_name": "existing-py", "date": 1700000000000,
        "result_columns": ["result", "params"],
        "results": {"bench_kmeans.KMeansFit.time_fit_default": [
            [0.5, 2.0, float("nan")],
            [["'1x2x3'"], ["'float64'"], ["'sklearn_rs'", "'sklearn'", "'sklearnex'"]],
        ]},
    }
    path = machine / "abcdef01-existing-py.json"
    path.write_text(json.dumps(results))
    assert report.find_results_file(str(tmp_path / "results"), "abcdef0123") == str(path)
    data, rows = report.load_rows(str(path))
    text = report.markdown(data, rows)
    assert "| time_fit_default | 1x2x3, float64 | 500 ms | 2 s | **4.00x** |" in text
    png = tmp_path / "chart.png"
    assert report.plot(data, rows, str(png)) == str(png) and png.stat().st_size > 0
