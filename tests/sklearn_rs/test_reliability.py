"""The user's process survives what the estimators run into: an allocation that cannot be
satisfied raises NumPy's MemoryError (and the next fit works), and a fit in a forked child
process works after a fit in the parent (the native thread pools are rebuilt after fork).

Each case runs in a fresh interpreter with a timeout, so a crash or a hang fails the test
instead of taking the suite down.
"""

import subprocess
import sys
import textwrap

import pytest
from estimator_specs import SPECS

# Seconds a child interpreter may take; a hang (the failure mode being guarded against) fails.
CHILD_TIMEOUT = 120

# What each registered estimator runs in these checks: code that defines `fit_small()` (a fit
# big enough to use the native thread pool, returning something comparable) and `huge_calls`
# (calls `f(cls)` whose memory need is far above the address-space limit, for our class and
# the original).
def _linear_model_case(name):
    """The case of a regressor of ``sklearn.linear_model``: its ``predict`` output."""
    return textwrap.dedent(
        f"""
        import numpy as np
        from sklearn_rs import {name} as Estimator
        from sklearn.linear_model import {name} as Original

        rng = np.random.RandomState(0)
        X = rng.rand(40_000, 8)
        y = X @ rng.rand(8) + rng.rand(40_000)

        def fit_small():
            return float(Estimator().fit(X, y).predict(X).sum())

        X_tall = rng.rand(10_000_000, 2)
        Y_wide = rng.rand(100, 2000)

        def predict_output(cls):
            # The (n_samples, n_targets) predictions of 2000 targets: 149 GiB here.
            cls().fit(X_tall[:100], Y_wide).predict(X_tall)

        huge_calls = [predict_output]
        """
    )


def _neighbors_case(name):
    """The case of an estimator of ``sklearn.neighbors`` searched by brute force (in Rust)."""
    call = "kneighbors" if name == "NearestNeighbors" else "predict"
    return textwrap.dedent(
        f"""
        import numpy as np
        from sklearn_rs import {name} as Estimator
        from sklearn.neighbors import {name} as Original

        rng = np.random.RandomState(0)
        X = rng.rand(40_000, 8)
        y = (X.sum(axis=1) * 3).astype(int)

        def fit(cls, n_neighbors, X_fit):
            est = cls(n_neighbors=n_neighbors, algorithm="brute")
            return est.fit(X_fit) if cls.__name__ == "NearestNeighbors" else est.fit(
                X_fit, y[: len(X_fit)])

        def fit_small():
            out = fit(Estimator, 5, X).{call}(X[:4000])
            return float(np.asarray(out[0] if isinstance(out, tuple) else out).sum())

        X_tall = rng.rand(10_000_000, 2)

        def neighbors_output(cls):
            # The (n_queries, n_neighbors) neighbour indices of 2000 neighbours: 149 GiB here.
            fit(cls, 2000, X_tall[:2000]).{call}(X_tall)

        huge_calls = [neighbors_output]
        """
    )


def _neighbors_small_fit(construct, call):
    """``fit_small`` of a neighbours estimator: ``construct`` (code building it from ``cls``)
    fitted on 40000 x 8 samples, then ``call`` on 4000 of them, summed."""
    return textwrap.dedent(
        f"""
        import numpy as np
        import scipy.sparse as sp
        from sklearn_rs import {{name}} as Estimator
        from sklearn.neighbors import {{name}} as Original

        rng = np.random.RandomState(0)
        X = rng.rand(40_000, 8)
        y = (X.sum(axis=1) * 3).astype(int)

        def fit_small(cls=Estimator):
            est = {construct}
            out = est.fit(X, y).{call}(X[:4000])
            return float((out.sum() if sp.issparse(out) else np.asarray(out)).sum())

        X_tall = rng.rand(10_000_000, 2)
        """
    )


# The allocation of each radius estimator and transformer that fails first, in scikit-learn's
# code and in ours, on a call whose memory need is far above the limit.
_NEIGHBORS_HUGE_CALLS = {
    "KNeighborsTransformer": """
        def neighbors_output(cls):
            # The (n_queries, n_neighbors + 1) neighbour indices of the graph: 149 GiB here.
            cls(n_neighbors=2000, algorithm="brute").fit(X_tall[:2001]).transform(X_tall)

        huge_calls = [neighbors_output]
        """,
    "RadiusNeighborsClassifier": """
        y_many = np.arange(4000) % 2000

        def class_scores(cls):
            # The (n_queries, n_classes) probabilities, 149 GiB here: scikit-learn's class-mode
            # reduction (metrics other than euclidean) allocates them before searching, ours
            # too.
            cls(radius=0.01, metric="manhattan", algorithm="brute").fit(
                X_tall[:4000], y_many).predict(X_tall)

        huge_calls = [class_scores]
        """,
    "RadiusNeighborsRegressor": """
        Y_wide = rng.rand(2, 2000)

        def predictions(cls):
            # The (n_queries, n_outputs) predictions of queries without neighbours, 14.9 GiB
            # here (scikit-learn's rows all point at one NaN row until np.array stacks them).
            cls(radius=0.5, algorithm="brute").fit(X_tall[:2] + 10, Y_wide).predict(
                X_tall[:1_000_000])

        huge_calls = [predictions]
        """,
    "RadiusNeighborsTransformer": """
        import resource

        def address_space():
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) << 10 for line in f
                            if line.startswith("VmSize"))

        X_fit, X_query = rng.rand(16384, 2), rng.rand(8192, 2)
        n_pairs = len(X_fit) * len(X_query)  # every sample is within the radius of every query

        def graph_arrays(cls):
            # Neighbour lists that fit and a graph that does not. scikit-learn's C++ lists
            # cannot fail cleanly (its nogil chunk loop swallows std::bad_alloc and drops that
            # chunk's neighbours), so the limit is set between the lists both searches grow
            # per query (16 bytes a pair, capacities exactly 16384 here) and the graph's
            # concatenated indices (8 more): both fail on that (n_pairs,) int64 array.
            # Connectivity mode: no sorting, a shorter run.
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            resource.setrlimit(resource.RLIMIT_AS, (address_space() + 20 * n_pairs, hard))
            try:
                cls(radius=10.0, mode="connectivity", algorithm="brute").fit(X_fit).transform(
                    X_query)
            finally:
                resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

        huge_calls = [graph_arrays]
        """,
}

_NEIGHBORS_SMALL_FITS = {
    "KNeighborsTransformer": ('cls(n_neighbors=5, algorithm="brute")', "transform"),
    "RadiusNeighborsClassifier": (
        'cls(radius=0.4, algorithm="brute", outlier_label="most_frequent")', "predict"),
    "RadiusNeighborsRegressor": ('cls(radius=0.4, algorithm="brute")', "predict"),
    "RadiusNeighborsTransformer": ('cls(radius=0.4, algorithm="brute")', "transform"),
}


def _neighbors_extra_case(name):
    construct, call = _NEIGHBORS_SMALL_FITS[name]
    return (_neighbors_small_fit(construct, call).replace("{name}", name)
            + textwrap.dedent(_NEIGHBORS_HUGE_CALLS[name]))


RELIABILITY_CASES = {
    "KMeans": textwrap.dedent(
        """
        import numpy as np
        from sklearn_rs import KMeans as Estimator
        from sklearn.cluster import KMeans as Original

        X = np.random.RandomState(0).rand(40000, 8)

        def fit_small():
            km = Estimator(4, init=X[:4].copy(), n_init=1, max_iter=3).fit(X)
            return float(km.inertia_)

        X_tall = np.random.RandomState(0).rand(10_000_000, 2)

        def elkan_bounds(cls):
            # Elkan keeps (n_samples, n_clusters) float64 lower bounds: 149 GiB here.
            cls(2000, init=X_tall[:2000].copy(), n_init=1, algorithm="elkan").fit(X_tall)

        def transform_output(cls):
            # The (n_samples, n_clusters) distances transform returns.
            km = cls(2000, init=X_tall[:2000].copy(), n_init=1, max_iter=1).fit(X_tall[:2000])
            km.transform(X_tall)

        huge_calls = [elkan_bounds, transform_output]
        """
    ),
    "MiniBatchKMeans": textwrap.dedent(
        """
        import numpy as np
        from sklearn_rs import MiniBatchKMeans as Estimator
        from sklearn.cluster import MiniBatchKMeans as Original

        X = np.random.RandomState(0).rand(40000, 8)

        def fit_small():
            km = Estimator(16, init=X[:16].copy(), n_init=1, batch_size=4096, max_iter=2,
                           random_state=0).fit(X)
            return float(km.inertia_)

        X_tall = np.random.RandomState(0).rand(10_000_000, 2)

        def transform_output(cls):
            # The (n_samples, n_clusters) distances transform returns: 149 GiB here.
            km = cls(2000, init=X_tall[:2000].copy(), n_init=1, max_iter=1,
                     batch_size=2000).fit(X_tall[:2000])
            km.transform(X_tall)

        huge_calls = [transform_output]
        """
    ),
    "StandardScaler": textwrap.dedent(
        """
        import os, tempfile
        import numpy as np
        from sklearn_rs import StandardScaler as Estimator
        from sklearn.preprocessing import StandardScaler as Original

        X = np.random.RandomState(0).rand(400_000, 8)

        def fit_small():
            return float(Estimator().fit_transform(X).sum())

        # A 4.8 GiB C-ordered X mapped from a sparse file: X exists, but its transformed copy
        # (made by Rust for ours, by NumPy for scikit-learn) does not fit the address space.
        fd, path = tempfile.mkstemp()
        os.ftruncate(fd, 10_000_000 * 64 * 8)
        X_huge = np.memmap(path, dtype=np.float64, mode="r", shape=(10_000_000, 64))
        os.close(fd)
        os.unlink(path)

        def transform_output(cls):
            cls().fit(X_huge[:1000]).transform(X_huge)

        def inverse_transform_output(cls):
            cls().fit(X_huge[:1000]).inverse_transform(X_huge)

        huge_calls = [transform_output, inverse_transform_output]
        """
    ),
    "PCA": textwrap.dedent(
        """
        import os, tempfile
        import numpy as np
        from sklearn_rs import PCA as Estimator
        from sklearn.decomposition import PCA as Original

        X = np.random.RandomState(0).rand(40_000, 8)

        def fit_small():
            return float(np.abs(Estimator(3).fit_transform(X)).sum())

        # A 4.8 GiB X mapped from a sparse file: projecting it on all its 64 components (or
        # reconstructing it from them) needs an output as large, which does not fit.
        fd, path = tempfile.mkstemp()
        os.ftruncate(fd, 10_000_000 * 64 * 8)
        X_huge = np.memmap(path, dtype=np.float64, mode="r", shape=(10_000_000, 64))
        os.close(fd)
        os.unlink(path)
        X_fit = np.random.RandomState(1).rand(200, 64)

        def transform_output(cls):
            cls().fit(X_fit).transform(X_huge)

        def inverse_transform_output(cls):
            cls().fit(X_fit).inverse_transform(X_huge)

        huge_calls = [transform_output, inverse_transform_output]
        """
    ),
    **{name: _linear_model_case(name) for name in ("LinearRegression", "Ridge")},
    **{name: _neighbors_case(name)
       for name in ("NearestNeighbors", "KNeighborsClassifier", "KNeighborsRegressor")},
    **{name: _neighbors_extra_case(name) for name in _NEIGHBORS_HUGE_CALLS},
    "LogisticRegression": textwrap.dedent(
        """
        import numpy as np
        from sklearn_rs import LogisticRegression as Estimator
        from sklearn.linear_model import LogisticRegression as Original

        rng = np.random.RandomState(0)
        X = rng.rand(40_000, 8)
        y = (X @ rng.rand(8) * 3).astype(int) % 3

        def fit_small():
            return float(Estimator().fit(X, y).predict_proba(X)[:, 0].sum())

        X_tall = rng.rand(10_000_000, 2)
        y_many = np.arange(4000) % 2000

        def decision_output(cls):
            # The (n_samples, n_classes) decision values of 2000 classes: 149 GiB here.
            cls(max_iter=2).fit(X_tall[:4000], y_many).decision_function(X_tall)

        def proba_output(cls):
            cls(max_iter=2).fit(X_tall[:4000], y_many).predict_proba(X_tall)

        huge_calls = [decision_output, proba_output]
        """
    ),
    "DBSCAN": textwrap.dedent(
        """
        import os, tempfile
        import numpy as np
        from sklearn_rs import DBSCAN as Estimator
        from sklearn.cluster import DBSCAN as Original

        X = np.random.RandomState(0).rand(40_000, 3)

        def fit_small():
            return Estimator(eps=0.02, min_samples=4).fit(X).labels_.tolist()

        # A 4 GiB float32 X mapped from a sparse file: the float64 points both searches work
        # on (scikit-learn's KD tree's copy, our sorted copy) do not fit the address space.
        fd, path = tempfile.mkstemp()
        os.ftruncate(fd, 10_000_000 * 100 * 4)
        X_huge = np.memmap(path, dtype=np.float32, mode="r", shape=(10_000_000, 100))
        os.close(fd)
        os.unlink(path)

        def float64_points(cls):
            cls(eps=0.5, algorithm="kd_tree").fit(X_huge)

        huge_calls = [float64_points]
        """
    ),
}

ADDRESS_SPACE_LIMIT = 8 << 30


def test_every_registered_estimator_has_a_reliability_case():
    # The common suite's specs list every estimator of the patch registry.
    assert set(RELIABILITY_CASES) == set(SPECS)


def run_child(code):
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )
    assert result.returncode == 0, (
        f"child exited with {result.returncode}\nstdout:\n{result.stdout}\n"
        f"stderr:\n{result.stderr}"
    )
    return result.stdout


@pytest.mark.parametrize("name", sorted(RELIABILITY_CASES))
def test_allocation_failure_raises_memory_error_and_the_process_goes_on(name):
    code = textwrap.dedent(
        f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE_LIMIT}, {ADDRESS_SPACE_LIMIT}))
        """
    ) + RELIABILITY_CASES[name] + textwrap.dedent(
        """
        def message(call, cls):
            try:
                call(cls)
            except MemoryError as e:
                return type(e).__name__, str(e)
            return None

        for call in huge_calls:
            ours, theirs = message(call, Estimator), message(call, Original)
            assert theirs is not None, "the original did not run out of memory: case too small"
            assert ours == theirs, (call.__name__, ours, theirs)
            before = fit_small()
            assert fit_small() == before
            print("survived", call.__name__, ours)
        """
    )
    out = run_child(code)
    assert "survived" in out and "Unable to allocate" in out


FORK_STARTS = {
    "multiprocessing-fork": """
        import multiprocessing as mp
        with mp.get_context("fork").Pool(2) as pool:
            results = pool.map_async(run, range(2)).get(timeout=60)
    """,
    "multiprocessing-forkserver": """
        import multiprocessing as mp
        with mp.get_context("forkserver").Pool(2) as pool:
            results = pool.map_async(run, range(2)).get(timeout=60)
    """,
    "os.fork": """
        import os, pickle
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(write_end, pickle.dumps([run(0)]))
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as f:
            results = pickle.loads(f.read())
        os.waitpid(pid, 0)
    """,
    "joblib-multiprocessing": """
        from joblib import Parallel, delayed
        results = Parallel(n_jobs=2, backend="multiprocessing", timeout=60)(
            delayed(run)(i) for i in range(2)
        )
    """,
}


@pytest.mark.parametrize("start", sorted(FORK_STARTS))
@pytest.mark.parametrize("name", sorted(RELIABILITY_CASES))
def test_fit_in_a_forked_child_after_a_fit_in_the_parent(tmp_path, name, start):
    # A module file (not -c), so that forkserver children can import `run`.
    script = tmp_path / "fork_case.py"
    script.write_text(
        RELIABILITY_CASES[name]
        + "\n\ndef run(_):\n    return fit_small()\n\n"
        + "if __name__ == '__main__':\n"
        + "    expected = fit_small()\n"
        + textwrap.indent(textwrap.dedent(FORK_STARTS[start]), "    ")
        + "    assert results and all(r == expected for r in results), (results, expected)\n"
        + "    print('children agree', len(results))\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=CHILD_TIMEOUT
    )
    assert result.returncode == 0, result.stderr
    assert "children agree" in result.stdout
