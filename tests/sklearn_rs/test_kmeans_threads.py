"""Threads: threadpoolctl control, k-means++ and subprocesses independent of the thread count,
concurrent fits from Python threads, determinism, and Ctrl-C during a long fit (the fits of
every estimator are compared across thread counts in test_common.py)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from skrs_utils import make_blobs_data
from threadpoolctl import threadpool_info, threadpool_limits

import sklearn_rs
from sklearn_rs import KMeans, kmeans_plusplus

N_THREADS = 2  # never more on this machine


def _rs_pools():
    return [p for p in threadpool_info() if p["user_api"] == "sklearn_rs"]


def test_threadpoolctl_lists_the_controller():
    pools = _rs_pools()
    assert len(pools) == 1
    (pool,) = pools
    assert pool["internal_api"] == "rayon"
    assert pool["num_threads"] >= 1
    assert pool["version"] == sklearn_rs.__version__
    assert "_core" in os.path.basename(pool["filepath"])


def test_threadpool_limits_sets_and_restores():
    before = _rs_pools()[0]["num_threads"]
    with threadpool_limits(1):
        assert _rs_pools()[0]["num_threads"] == 1
    assert _rs_pools()[0]["num_threads"] == before
    with threadpool_limits(limits=1, user_api="sklearn_rs"):
        assert _rs_pools()[0]["num_threads"] == 1
    assert _rs_pools()[0]["num_threads"] == before


def _fit_result(X, **params):
    est = KMeans(**params).fit(X)
    return est.labels_.copy(), est.cluster_centers_.copy(), est.inertia_, est.n_iter_


def _assert_bitwise_equal(a, b):
    assert_array_equal(a[0], b[0])
    assert a[1].tobytes() == b[1].tobytes()
    assert a[2] == b[2]
    assert a[3] == b[3]


# Enough samples that the work is split into several chunks.
@pytest.fixture(scope="module")
def big_X():
    return make_blobs_data(n_samples=6000, n_features=6, n_centers=12, spread=8.0, seed=3)


def test_kmeans_plusplus_thread_independent(big_X):
    with threadpool_limits(1):
        c1, i1 = kmeans_plusplus(big_X, 12, random_state=3)
    with threadpool_limits(N_THREADS):
        c2, i2 = kmeans_plusplus(big_X, 12, random_state=3)
    assert_array_equal(i1, i2)
    assert c1.tobytes() == c2.tobytes()


def test_omp_num_threads_1_in_subprocess_gives_same_result(tmp_path):
    """A process started with OMP_NUM_THREADS=1 gets the same result as this one."""
    X = make_blobs_data(n_samples=3000, n_features=4, n_centers=8, seed=2)
    np.save(tmp_path / "X.npy", X)
    code = textwrap.dedent(f"""
        import numpy as np
        from threadpoolctl import threadpool_info
        from sklearn_rs import KMeans
        X = np.load({str(tmp_path / "X.npy")!r})
        est = KMeans(n_clusters=8, random_state=1, n_init=2).fit(X)
        np.save({str(tmp_path / "c.npy")!r}, est.cluster_centers_)
        print([p["num_threads"] for p in threadpool_info() if p["user_api"] == "sklearn_rs"])
    """)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    here = KMeans(n_clusters=8, random_state=1, n_init=2).fit(X)
    assert np.load(tmp_path / "c.npy").tobytes() == here.cluster_centers_.tobytes()


def test_same_random_state_same_result(big_X):
    a = _fit_result(big_X, n_clusters=8, random_state=42, n_init=3)
    b = _fit_result(big_X, n_clusters=8, random_state=42, n_init=3)
    _assert_bitwise_equal(a, b)
    rs = np.random.RandomState(5)
    c = _fit_result(big_X, n_clusters=8, random_state=np.random.RandomState(5), n_init=3)
    d = _fit_result(big_X, n_clusters=8, random_state=rs, n_init=3)
    _assert_bitwise_equal(c, d)
    # a RandomState instance is consumed, so refitting with it draws new seeds (as in
    # scikit-learn), while an int seed gives the same result every time
    e = _fit_result(big_X, n_clusters=8, random_state=rs, n_init=3)
    assert c[1].tobytes() != e[1].tobytes()


def test_concurrent_fits_from_python_threads_match_serial(big_X):
    datasets = [
        big_X,
        big_X[::2].astype(np.float32),
        sp.csr_matrix(np.where(big_X > 0, big_X, 0.0)),
        big_X[1::3],
    ]
    params = [dict(n_clusters=k, random_state=s, n_init=2, algorithm=a)
              for k, s, a in [(8, 0, "lloyd"), (5, 1, "elkan"), (6, 2, "lloyd"), (7, 3, "elkan")]]
    jobs = list(zip(datasets, params)) * 2
    serial = [_fit_result(X, **p) for X, p in jobs]
    with ThreadPoolExecutor(max_workers=2) as ex:
        concurrent = list(ex.map(lambda job: _fit_result(job[0], **job[1]), jobs))
    for s, c in zip(serial, concurrent):
        _assert_bitwise_equal(s, c)


def test_concurrent_fits_release_the_gil(big_X):
    """While one thread is inside a fit, another Python thread keeps running."""
    import threading

    X = np.tile(big_X, (4, 1))
    ticks = []
    done = threading.Event()

    def ticker():
        while not done.is_set():
            ticks.append(1)
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    with threadpool_limits(1):
        t.start()
        try:
            KMeans(n_clusters=64, init="random", n_init=3, max_iter=50, tol=0,
                   random_state=0).fit(X)
        finally:
            done.set()
            t.join()
    assert len(ticks) > 5


# --- Ctrl-C -----------------------------------------------------------------------------

# One single long run (n_init=1, tol=0, uniform data that converges slowly, >10 s) or one long
# k-means++ call: Ctrl-C must stop it inside the native call, not when it returns.
# Each child installs Python's own SIGINT handler: a parent started as a background job of a
# non-interactive shell passes SIGINT on as ignored, and Python then keeps ignoring it.
_LONG_FIT = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    import scipy.sparse as sp
    from sklearn_rs import KMeans, kmeans_plusplus
    kind = sys.argv[1]
    X = np.random.RandomState(0).uniform(size=(100000, 20))
    init = X[:300].copy()
    if kind == "csr":
        X[X < 0.3] = 0.0
        X = sp.csr_matrix(X)
    print("ready", flush=True)
    t0 = time.monotonic()
    if kind == "kmeans_plusplus":
        kmeans_plusplus(X, 3000, random_state=0)
    else:
        algorithm = "elkan" if kind == "elkan" else "lloyd"
        KMeans(n_clusters=300, init=init, n_init=1, max_iter=100000, tol=0,
               algorithm=algorithm).fit(X)
    print("finished", time.monotonic() - t0, flush=True)
""")


@pytest.mark.parametrize("kind", ["lloyd", "elkan", "csr", "kmeans_plusplus"])
def test_ctrl_c_stops_long_fit(kind):
    env = dict(os.environ, OMP_NUM_THREADS=str(N_THREADS))
    proc = subprocess.Popen([sys.executable, "-c", _LONG_FIT, kind], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.5)  # well inside the fit
        assert proc.poll() is None, "the fit ended before it could be interrupted"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=5)
            stopped = True
        except subprocess.TimeoutExpired:
            stopped = False
        if not stopped:
            pytest.fail(f"{kind}: still running 5 s after SIGINT", pytrace=False)
        stopped_after = time.monotonic() - sent
        out, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "finished" not in out
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err, err[-2000:]
    assert "panicked" not in err and "internal error" not in err
    assert stopped_after < 5


def test_keyboard_interrupt_leaves_module_usable():
    """After an interrupted fit (in a subprocess) the next fit in the same process works."""
    code = textwrap.dedent("""
        import os, signal, threading, time
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import numpy as np
        from sklearn_rs import KMeans
        X = np.random.RandomState(0).standard_normal((20000, 10))
        threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        try:
            KMeans(n_clusters=50, init="random", n_init=10000, max_iter=100000, tol=0).fit(X)
            print("not interrupted")
        except KeyboardInterrupt:
            print("interrupted")
        small = np.random.RandomState(1).standard_normal((200, 3))
        est = KMeans(n_clusters=3, random_state=0).fit(small)
        print("refit", est.cluster_centers_.shape)
    """)
    env = dict(os.environ, OMP_NUM_THREADS=str(N_THREADS))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[:2] == ["interrupted", "refit (3, 3)"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pruned_lloyd_thread_independent(dtype):
    """Lloyd with many centers (pruned by group bounds): bitwise the same with 1 and 3 threads."""
    X = make_blobs_data(n_samples=5000, n_features=32, n_centers=256, spread=3.0, seed=8)
    X = X.astype(dtype)
    params = dict(n_clusters=256, init=X[:256].copy(), n_init=1, tol=0.0, algorithm="lloyd")
    with threadpool_limits(1):
        one = _fit_result(X, **params)
    with threadpool_limits(3):
        three = _fit_result(X, **params)
    _assert_bitwise_equal(one, three)
