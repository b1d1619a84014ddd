"""Patching scikit-learn in place: patch_sklearn / unpatch_sklearn / patched / is_patched, the
``python -m sklearn_rs`` runner (scripts, ``-m module``, joblib worker processes), pickles made
while patched, and the fallback mechanism."""

import functools
import json
import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sklearn.cluster
import sklearn.cluster._kmeans
from sklearn.metrics import adjusted_rand_score

import sklearn_rs
from sklearn_rs import _patch

SCRIPTS = Path(__file__).parent / "scripts"
# Every place patching rebinds, and scikit-learn's original object there.
TARGETS = {
    (module, attr): getattr(module, attr)
    for module in (sklearn.cluster, sklearn.cluster._kmeans)
    for attr in ("KMeans", "k_means", "kmeans_plusplus")
}
OURS = {"KMeans": sklearn_rs.KMeans, "k_means": sklearn_rs.k_means,
        "kmeans_plusplus": sklearn_rs.kmeans_plusplus}


@pytest.fixture(autouse=True)
def _always_unpatch():
    assert not sklearn_rs.is_patched()
    yield
    sklearn_rs.unpatch_sklearn()
    for (module, attr), original in TARGETS.items():
        assert getattr(module, attr) is original


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in (_patch.ENV_PATCH, _patch.ENV_VERBOSE, "PYTHONPATH")}
    env.update(OMP_NUM_THREADS="1", **extra)
    return env


def _run(args, cwd=None, check=True, **env):
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=_env(**env),
                          capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def _assert_all_original():
    for (module, attr), original in TARGETS.items():
        assert getattr(module, attr) is original, (module.__name__, attr)


def _assert_all_ours():
    for (module, attr) in TARGETS:
        assert getattr(module, attr) is OURS[attr], (module.__name__, attr)


# --- in-process API ----------------------------------------------------------------------------

def test_patch_then_import_gets_ours_and_unpatch_restores_originals():
    sklearn_rs.patch_sklearn()
    _assert_all_ours()
    from sklearn.cluster import KMeans, k_means, kmeans_plusplus
    from sklearn.cluster._kmeans import KMeans as PrivateKMeans

    assert KMeans is PrivateKMeans is sklearn_rs.KMeans
    assert k_means is sklearn_rs.k_means and kmeans_plusplus is sklearn_rs.kmeans_plusplus
    assert type(KMeans(n_clusters=2)).__module__ == "sklearn_rs._kmeans"

    sklearn_rs.patch_sklearn()  # twice is harmless
    sklearn_rs.unpatch_sklearn()
    _assert_all_original()
    assert sklearn.cluster.KMeans.__module__ == "sklearn.cluster._kmeans"
    sklearn_rs.unpatch_sklearn()  # and so is unpatching when nothing is patched
    _assert_all_original()


def test_is_patched_reflects_state():
    assert not sklearn_rs.is_patched()
    assert not sklearn_rs.is_patched("KMeans")
    sklearn_rs.patch_sklearn()
    assert sklearn_rs.is_patched()
    assert all(sklearn_rs.is_patched(name) for name in OURS)
    sklearn_rs.unpatch_sklearn(["k_means"])
    assert sklearn_rs.is_patched() and not sklearn_rs.is_patched("k_means")
    assert sklearn.cluster.k_means is TARGETS[(sklearn.cluster, "k_means")]
    sklearn_rs.unpatch_sklearn()
    assert not sklearn_rs.is_patched() and not sklearn_rs.is_patched("KMeans")


def test_selective_names():
    sklearn_rs.patch_sklearn(names=["KMeans"])
    assert sklearn.cluster.KMeans is sklearn_rs.KMeans
    assert sklearn.cluster._kmeans.KMeans is sklearn_rs.KMeans
    assert sklearn.cluster.k_means is TARGETS[(sklearn.cluster, "k_means")]
    assert sklearn.cluster.kmeans_plusplus is TARGETS[(sklearn.cluster, "kmeans_plusplus")]
    assert sklearn_rs.is_patched("KMeans") and not sklearn_rs.is_patched("kmeans_plusplus")
    sklearn_rs.patch_sklearn("kmeans_plusplus")  # a single name as a string
    assert sklearn.cluster.kmeans_plusplus is sklearn_rs.kmeans_plusplus


def test_unknown_name_raises_clear_error_and_patches_nothing():
    with pytest.raises(ValueError, match=r"Unknown name\(s\) 'Nope'.*Available names: KMeans"):
        sklearn_rs.patch_sklearn(["KMeans", "Nope"])
    assert not sklearn_rs.is_patched()
    _assert_all_original()
    with pytest.raises(ValueError, match="Unknown name"):
        sklearn_rs.unpatch_sklearn("Birch")
    with pytest.raises(ValueError, match="Unknown name"):
        sklearn_rs.is_patched("Birch")
    with pytest.raises(ValueError, match="Unknown name"):
        with sklearn_rs.patched(["Nope"]):
            pass


def test_context_manager_patches_and_restores():
    with sklearn_rs.patched():
        _assert_all_ours()
        assert sklearn_rs.is_patched()
    _assert_all_original()
    assert not sklearn_rs.is_patched()

    with pytest.raises(RuntimeError):
        with sklearn_rs.patched(["KMeans"]):
            assert sklearn.cluster.KMeans is sklearn_rs.KMeans
            raise RuntimeError("boom")
    _assert_all_original()


def test_context_manager_keeps_what_was_patched_before_it():
    sklearn_rs.patch_sklearn(["KMeans"])
    with sklearn_rs.patched():
        _assert_all_ours()
    assert sklearn.cluster.KMeans is sklearn_rs.KMeans  # patched before the block: stays
    assert sklearn.cluster.k_means is TARGETS[(sklearn.cluster, "k_means")]


def test_patched_estimator_matches_scikit_learn():
    X = np.random.RandomState(0).standard_normal((200, 3)) + np.repeat([[0], [8]], 100, axis=0)
    init = X[[0, 150]]
    reference = sklearn.cluster.KMeans(n_clusters=2, init=init, n_init=1).fit(X)
    with sklearn_rs.patched():
        est = sklearn.cluster.KMeans(n_clusters=2, init=init, n_init=1).fit(X)
        centers, labels, inertia = sklearn.cluster.k_means(X, 2, init=init, n_init=1)
    assert type(est) is sklearn_rs.KMeans
    np.testing.assert_array_equal(est.labels_, reference.labels_)
    np.testing.assert_allclose(est.inertia_, reference.inertia_, rtol=1e-10)
    np.testing.assert_array_equal(labels, reference.labels_)
    np.testing.assert_allclose(centers, reference.cluster_centers_, rtol=1e-10)


def test_pickle_made_while_patched_loads_without_patching(tmp_path):
    X = np.random.RandomState(1).standard_normal((120, 4))
    with sklearn_rs.patched():
        from sklearn.cluster import KMeans

        est = KMeans(n_clusters=3, n_init=2, random_state=0).fit(X)
        (tmp_path / "est.pkl").write_bytes(pickle.dumps(est))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "labels.npy", est.predict(X))
    code = (
        "import pickle, sys, numpy as np, sklearn.cluster\n"
        f"d = {str(tmp_path)!r}\n"
        "est = pickle.load(open(d + '/est.pkl', 'rb'))\n"
        "assert type(est).__module__ == 'sklearn_rs._kmeans', type(est)\n"
        "assert sklearn.cluster.KMeans.__module__ == 'sklearn.cluster._kmeans'\n"
        "import sklearn_rs; assert not sklearn_rs.is_patched()\n"
        "X = np.load(d + '/X.npy')\n"
        "np.testing.assert_array_equal(est.predict(X), np.load(d + '/labels.npy'))\n"
        "print('ok')\n"
    )
    assert _run(["-c", code]).stdout.strip() == "ok"


# --- fallback mechanism ------------------------------------------------------------------------

#: Registered names whose fallback hook sends some inputs to scikit-learn (listed in the README).
WITH_FALLBACKS = {"StandardScaler"}


def test_fallbacks_are_the_listed_ones():
    # README lists the fallbacks; the k-means names support every parameter and input.
    assert WITH_FALLBACKS <= set(_patch.get_patch_names())
    assert set(OURS) <= set(_patch.get_patch_names())
    assert all(_patch._REGISTRY[name].fallback is None for name in OURS)
    assert all(_patch._REGISTRY[name].fallback is not None for name in WITH_FALLBACKS)
    assert _patch.fallback_reason("KMeans", {"verbose": 1}, None) is None


def test_standard_scaler_fallback_reasons():
    params = sklearn_rs.StandardScaler().get_params()
    assert _patch.fallback_reason("StandardScaler", params, np.ones((3, 2))) is None
    assert "float16" in _patch.fallback_reason(
        "StandardScaler", params, np.ones((3, 2), dtype=np.float16))


def _with_fallback_hook(monkeypatch, name, hook):
    entry = _patch._REGISTRY[name]
    monkeypatch.setitem(_patch._REGISTRY, name, _patch._Entry(
        entry.name, entry.replacement, entry.targets, hook))


def test_function_fallback_calls_scikit_learn_and_logs(monkeypatch, caplog):
    # A stand-in hook (no real unsupported case exists): reject n_clusters == 1.
    _with_fallback_hook(monkeypatch, "k_means",
                        lambda params, X: "test reason" if params["n_clusters"] == 1 else None)
    calls = []
    original = TARGETS[(sklearn.cluster, "k_means")]

    @functools.wraps(sklearn_rs.k_means)
    def spy(*args, **kwargs):
        calls.append("ours")
        return original(*args, **kwargs)

    monkeypatch.setattr(sklearn_rs._kmeans, "k_means", spy)
    X = np.random.RandomState(0).standard_normal((50, 2))
    with sklearn_rs.patched(["k_means"]):
        dispatcher = sklearn.cluster.k_means
        assert sklearn.cluster._kmeans.k_means is dispatcher
        assert pickle.loads(pickle.dumps(dispatcher)) is dispatcher
        with caplog.at_level(logging.INFO, logger="sklearn_rs"):
            sklearn.cluster.k_means(X, 2, n_init=1, random_state=0)
            assert calls == ["ours"] and not caplog.records
            sklearn.cluster.k_means(X, n_clusters=1, n_init=1, random_state=0)
        assert calls == ["ours"]  # scikit-learn's own function ran
        (record,) = caplog.records
        assert record.levelno == logging.INFO
        assert "k_means: falling back to scikit-learn for this call: test reason" in (
            record.getMessage())
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="sklearn_rs"):
            sklearn.cluster.k_means(X, 1, n_init=1, random_state=0, verbose=True)
        assert [r.levelno for r in caplog.records] == [logging.WARNING]  # visible with verbose
    _assert_all_original()


def test_fallback_reason_for_estimators(monkeypatch, caplog):
    _with_fallback_hook(monkeypatch, "KMeans", lambda params, X: (
        "float16 input" if X is not None and X.dtype == np.float16 else None))
    with caplog.at_level(logging.INFO, logger="sklearn_rs"):
        assert _patch.fallback_reason("KMeans", {"verbose": 0}, np.zeros(2)) is None
        reason = _patch.fallback_reason("KMeans", {"verbose": 0},
                                        np.zeros(2, dtype=np.float16))
    assert reason == "float16 input"
    assert "KMeans: falling back to scikit-learn" in caplog.text
    with sklearn_rs.patched(["KMeans"]):  # classes are installed as they are
        assert sklearn.cluster.KMeans is sklearn_rs.KMeans


# --- python -m sklearn_rs ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def grid_runs(tmp_path_factory):
    """The GridSearchCV script run unmodified, with plain python and under the runner."""
    out = tmp_path_factory.mktemp("grid")
    script = SCRIPTS / "grid_search_kmeans.py"
    runs = {}
    for name, prefix in (("plain", []), ("patched", ["-m", "sklearn_rs"])):
        path = out / f"{name}.json"
        _run([*prefix, script, path])
        result = json.loads(path.read_text())
        result["records"] = [json.loads(p.read_text())
                             for p in sorted(Path(str(path) + ".records").iterdir())]
        runs[name] = result
    return runs


def test_runner_uses_ours_in_parent_and_joblib_workers(grid_runs):
    run = grid_runs["patched"]
    assert run["sklearn_cluster_KMeans"] == "sklearn_rs._kmeans"
    assert run["best_class"] == "sklearn_rs._kmeans.KMeans"
    records = run["records"]
    assert len(records) == 5 * 3  # one per candidate and fold
    worker_pids = {r["pid"] for r in records}
    assert run["pid"] not in worker_pids  # the scoring ran in joblib's worker processes
    for r in records:
        assert r["fitted_class"] == "sklearn_rs._kmeans.KMeans"
        assert r["sklearn_cluster_KMeans"] == "sklearn_rs._kmeans"  # workers are patched too

    # The same probes see scikit-learn's classes when the script runs without the runner.
    plain = grid_runs["plain"]
    assert plain["best_class"] == "sklearn.cluster._kmeans.KMeans"
    assert {r["fitted_class"] for r in plain["records"]} == {"sklearn.cluster._kmeans.KMeans"}
    assert {r["sklearn_cluster_KMeans"] for r in plain["records"]} == {"sklearn.cluster._kmeans"}
    assert plain["pid"] not in {r["pid"] for r in plain["records"]}


def test_runner_gives_the_same_results_as_plain_python(grid_runs):
    plain, patched = grid_runs["plain"], grid_runs["patched"]
    assert patched["best_params"] == plain["best_params"]
    best_k = plain["best_params"]["kmeans__n_clusters"]
    # Candidates up to the true structure have one clear optimum; larger ones split blobs
    # arbitrarily, where k-means++ draws (different random streams) may pick another local one.
    n = [2, 3, 4, 5, 6].index(best_k) + 1
    np.testing.assert_allclose(patched["mean_test_score"][:n], plain["mean_test_score"][:n],
                               rtol=1e-7)
    np.testing.assert_allclose(patched["inertia"], plain["inertia"], rtol=1e-7)
    np.testing.assert_allclose(patched["centers"], plain["centers"], rtol=1e-7, atol=1e-9)
    assert adjusted_rand_score(plain["labels"], patched["labels"]) == 1.0


def test_runner_script_sees_what_python_gives_it():
    script = SCRIPTS / "report_state.py"
    plain = json.loads(_run([script, "a", "--b"]).stdout)
    patched = json.loads(_run(["-m", "sklearn_rs", script, "a", "--b"]).stdout)
    assert patched["argv"] == plain["argv"] == [str(script), "a", "--b"]
    assert patched["path0"] == plain["path0"] == str(SCRIPTS)
    assert patched["name"] == plain["name"] == "__main__"
    assert plain["KMeans"] == "sklearn.cluster._kmeans"
    assert patched["KMeans"] == patched["k_means"] == patched["kmeans_plusplus"] == (
        "sklearn_rs._kmeans")


def test_runner_module_mode():
    plain = json.loads(_run(["-m", "report_state", "x", "-m"], cwd=SCRIPTS).stdout)
    patched = json.loads(
        _run(["-m", "sklearn_rs", "-m", "report_state", "x", "-m"], cwd=SCRIPTS).stdout)
    assert patched["argv"] == plain["argv"] == [str(SCRIPTS / "report_state.py"), "x", "-m"]
    assert patched["name"] == "__main__"
    assert plain["KMeans"] == "sklearn.cluster._kmeans"
    assert patched["KMeans"] == "sklearn_rs._kmeans"


def test_runner_selective_names_and_verbose_log():
    proc = _run(["-m", "sklearn_rs", "-v", "--names", "KMeans", SCRIPTS / "report_state.py"])
    state = json.loads(proc.stdout)
    assert state["KMeans"] == "sklearn_rs._kmeans"
    assert state["k_means"] == state["kmeans_plusplus"] == "sklearn.cluster._kmeans"
    assert "sklearn_rs: patched sklearn.cluster.KMeans with sklearn_rs" in proc.stderr


def test_runner_usage_errors():
    proc = _run(["-m", "sklearn_rs", "--names", "Nope", SCRIPTS / "report_state.py"],
                check=False)
    assert proc.returncode == 2 and "Unknown name(s) 'Nope'" in proc.stderr
    proc = _run(["-m", "sklearn_rs"], check=False)
    assert proc.returncode == 2 and "a script or -m module is required" in proc.stderr
    proc = _run(["-m", "sklearn_rs", "missing_script.py"], check=False)
    assert proc.returncode == 2 and "can't open file" in proc.stderr


def test_runner_exit_status_and_child_processes(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(
        "import subprocess, sys\n"
        "out = subprocess.run([sys.executable, '-c', 'import sklearn.cluster; "
        "print(sklearn.cluster.KMeans.__module__)'], capture_output=True, text=True).stdout\n"
        "print(out.strip())\n"
        "sys.exit(3)\n"
    )
    proc = _run(["-m", "sklearn_rs", script], check=False)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.strip() == "sklearn_rs._kmeans"  # a plain Python child is patched


def test_startup_hook_runs_a_shadowed_sitecustomize(tmp_path):
    (tmp_path / "sitecustomize.py").write_text("import os\nos.environ['OTHER_HOOK'] = 'ran'\n")
    code = ("import os, sklearn.cluster; "
            "print(os.environ.get('OTHER_HOOK'), sklearn.cluster.KMeans.__module__)")
    proc = _run(["-c", code], SKLEARN_RS_PATCH="KMeans",
                PYTHONPATH=os.pathsep.join([_patch.BOOTSTRAP_DIR, str(tmp_path)]))
    assert proc.stdout.split() == ["ran", "sklearn_rs._kmeans"]
