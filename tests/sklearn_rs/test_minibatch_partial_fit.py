"""``MiniBatchKMeans.partial_fit`` called again and again, as streaming code calls it: the same
centers, counts, labels, inertia, step count, reassignment bookkeeping and generator state as
scikit-learn's after every call, and on bad input at a later call the same error and the same
state left behind."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import config_context
from sklearn.cluster import MiniBatchKMeans as SkMiniBatchKMeans
from sklearn.datasets import make_blobs
from threadpoolctl import threadpool_limits

from sklearn_rs import MiniBatchKMeans

TOLS = {np.float64: 1e-9, np.float32: 1e-4}


def _blobs(dtype, n_samples=12_000, n_features=20, centers=32):
    X, _ = make_blobs(n_samples, n_features, centers=centers, random_state=0)
    return X.astype(dtype)


def _state(est):
    """What a partial_fit call leaves that the next one continues from."""
    rs = est._random_state.get_state()
    return {
        "centers": est.cluster_centers_.copy(),
        "counts": est._counts.copy(),
        "n_steps_": est.n_steps_,
        "n_since": est._n_since_last_reassign,
        "labels_": getattr(est, "labels_", None),
        "inertia_": getattr(est, "inertia_", None),
        "key": rs[1].copy(),
        "pos": rs[2],
        "n_features_in_": est.n_features_in_,
    }


def _assert_same_state(ours, theirs, dtype):
    tol = TOLS[dtype]
    assert ours["n_steps_"] == theirs["n_steps_"]
    assert ours["n_since"] == theirs["n_since"]
    assert ours["n_features_in_"] == theirs["n_features_in_"]
    assert ours["centers"].dtype == theirs["centers"].dtype
    assert_allclose(ours["centers"], theirs["centers"], rtol=tol, atol=tol)
    assert_allclose(ours["counts"], theirs["counts"], rtol=tol)
    assert_array_equal(ours["key"], theirs["key"])
    assert ours["pos"] == theirs["pos"]
    if theirs["labels_"] is None:
        assert ours["labels_"] is None
    else:
        assert ours["labels_"].dtype == theirs["labels_"].dtype
        assert_array_equal(ours["labels_"], theirs["labels_"])
        assert_allclose(ours["inertia_"], theirs["inertia_"], rtol=10 * tol)


@pytest.mark.parametrize("compute_labels", [True, False])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_successive_batches_equal_sklearn(dtype, weighted, compute_labels):
    # The streaming setting of the benchmarks, smaller: batches taken in turn from blobs,
    # explicit initial centers (some clusters start empty and are reassigned on the way).
    X = _blobs(dtype)
    batch = 512
    params = dict(n_clusters=32, init=X[:32], n_init=1, batch_size=batch, random_state=0,
                  compute_labels=compute_labels)
    sk, rs = SkMiniBatchKMeans(**params), MiniBatchKMeans(**params)
    weights = np.random.RandomState(3).uniform(0.2, 3.0, X.shape[0]).astype(dtype)
    for start in range(0, X.shape[0], batch):
        sw = weights[start:start + batch] if weighted else None
        sk.partial_fit(X[start:start + batch], sample_weight=sw)
        rs.partial_fit(X[start:start + batch], sample_weight=sw)
        _assert_same_state(_state(rs), _state(sk), dtype)


def test_reassignments_on_later_calls_equal_sklearn():
    # A high reassignment ratio, so that later calls reassign (and draw from the generator).
    X = _blobs(np.float64, n_samples=4000, centers=8)
    params = dict(n_clusters=24, init=X[:24], n_init=1, batch_size=100, random_state=1,
                  reassignment_ratio=0.5)
    sk, rs = SkMiniBatchKMeans(**params), MiniBatchKMeans(**params)
    draws = 0
    for start in range(0, X.shape[0], 100):
        before = sk._random_state.get_state()[2] if start else None
        sk.partial_fit(X[start:start + 100])
        rs.partial_fit(X[start:start + 100])
        draws += start > 0 and sk._random_state.get_state()[2] != before
        _assert_same_state(_state(rs), _state(sk), np.float64)
    assert draws > 0


def test_negative_weights_on_later_calls_equal_sklearn():
    X = _blobs(np.float64, n_samples=3000, centers=6)
    params = dict(n_clusters=6, init=X[:6], n_init=1, batch_size=300, random_state=0)
    sk, rs = SkMiniBatchKMeans(**params), MiniBatchKMeans(**params)
    weights = np.random.RandomState(0).uniform(-0.2, 1.0, X.shape[0])
    for start in range(0, X.shape[0], 300):
        sw = weights[start:start + 300]
        sk.partial_fit(X[start:start + 300], sample_weight=sw)
        rs.partial_fit(X[start:start + 300], sample_weight=sw)
        _assert_same_state(_state(rs), _state(sk), np.float64)


@pytest.mark.parametrize(
    "batch",
    [
        "fortran", "strided", "list", "int", "strings", "weights as list",
        "memmap-like subclass",
    ],
)
def test_inputs_validation_converts_equal_sklearn(batch):
    X = _blobs(np.float64, n_samples=2000, centers=4)
    params = dict(n_clusters=4, init=X[:4], n_init=1, batch_size=200, random_state=0)
    sk, rs = SkMiniBatchKMeans(**params), MiniBatchKMeans(**params)
    sk.partial_fit(X[:200])
    rs.partial_fit(X[:200])
    rows, sw = X[200:400], None
    given = {
        "fortran": lambda: np.asfortranarray(rows),
        "strided": lambda: X[200:600:2],
        "list": lambda: rows.tolist(),
        "int": lambda: np.rint(rows).astype(np.int64),
        "strings": lambda: rows.astype(str),
        "weights as list": lambda: rows,
        "memmap-like subclass": lambda: rows.view(type("Sub", (np.ndarray,), {})),
    }[batch]()
    if batch == "weights as list":
        sw = list(np.linspace(0.5, 2.0, 200))
    outcomes = []
    for est in (sk, rs):
        try:
            est.partial_fit(given, sample_weight=sw)
            outcomes.append(None)
        except Exception as error:  # noqa: BLE001 - the error itself is compared
            outcomes.append((type(error), str(error)))
    assert outcomes[1] == outcomes[0]
    _assert_same_state(_state(rs), _state(sk), np.float64)


def _nan_rows(X):
    X = X.copy()
    X[5, 3] = np.nan
    return X


def _inf_rows(X):
    X = X.copy()
    X[-1, 0] = np.inf
    return X


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize(
    "bad",
    [
        "fewer features", "more features", "nan", "inf", "empty", "1-d", "complex",
        "weights too short", "weights nan", "weights 2-d", "nan and short weights",
    ],
)
def test_later_call_errors_equal_sklearn(bad, dtype):
    # The first call fits; a later call with bad input raises scikit-learn's error and leaves
    # the estimator as scikit-learn leaves it, and the call after goes on as scikit-learn's.
    X = _blobs(dtype, n_samples=2000, n_features=5, centers=4)
    params = dict(n_clusters=4, init=X[:4], n_init=1, batch_size=200, random_state=0)
    sk, rs = SkMiniBatchKMeans(**params), MiniBatchKMeans(**params)
    sk.partial_fit(X[:200])
    rs.partial_fit(X[:200])
    rows, sw = X[200:400], None
    given = {
        "fewer features": lambda: rows[:, :4].copy(),
        "more features": lambda: np.hstack([rows, rows[:, :1]]),
        "nan": lambda: _nan_rows(rows),
        "inf": lambda: _inf_rows(rows),
        "empty": lambda: rows[:0],
        "1-d": lambda: rows[0],
        "complex": lambda: rows.astype(np.complex128),
        "weights too short": lambda: rows,
        "weights nan": lambda: rows,
        "weights 2-d": lambda: rows,
        "nan and short weights": lambda: _nan_rows(rows),
        "string": lambda: rows.astype(str),
    }[bad]()
    if bad in ("weights too short", "nan and short weights"):
        sw = np.ones(150, dtype=dtype)
    elif bad == "weights nan":
        sw = np.r_[np.nan, np.ones(199)].astype(dtype)
    elif bad == "weights 2-d":
        sw = np.ones((200, 1), dtype=dtype)
    errors = []
    for est in (sk, rs):
        with pytest.raises((ValueError, TypeError)) as info:
            est.partial_fit(given, sample_weight=sw)
        errors.append((info.type, str(info.value)))
    assert errors[1] == errors[0]
    _assert_same_state(_state(rs), _state(sk), dtype)
    sk.partial_fit(X[400:600])
    rs.partial_fit(X[400:600])
    _assert_same_state(_state(rs), _state(sk), dtype)


def test_nan_with_assume_finite_is_not_checked_like_sklearn():
    X = _blobs(np.float64, n_samples=1000, n_features=5, centers=4)
    params = dict(n_clusters=4, init=X[:4], n_init=1, batch_size=100, random_state=0,
                  compute_labels=False)
    for cls in (SkMiniBatchKMeans, MiniBatchKMeans):
        est = cls(**params).partial_fit(X[:100])
        with config_context(assume_finite=True):
            est.partial_fit(_nan_rows(X[100:200]))
        assert est.n_steps_ == 2


def test_feature_names_on_later_calls_equal_sklearn():
    X = _blobs(np.float64, n_samples=1000, n_features=3, centers=3)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    params = dict(n_clusters=3, init=X[:3], n_init=1, batch_size=100, random_state=0)
    # Fitted with names, then given an array: scikit-learn warns.
    records = []
    for cls in (SkMiniBatchKMeans, MiniBatchKMeans):
        est = cls(**params).partial_fit(frame.iloc[:100])
        with pytest.warns(UserWarning) as record:
            est.partial_fit(X[100:200])
        records.append([str(w.message) for w in record])
    assert records[1] == records[0]
    # Fitted with an array, then given names: scikit-learn warns too.
    records = []
    for cls in (SkMiniBatchKMeans, MiniBatchKMeans):
        est = cls(**params).partial_fit(X[:100])
        with pytest.warns(UserWarning) as record:
            est.partial_fit(frame.iloc[100:200])
        records.append([str(w.message) for w in record])
    assert records[1] == records[0]


def test_centers_are_updated_in_place_like_sklearn():
    X = _blobs(np.float64, n_samples=1000, n_features=3, centers=3)
    params = dict(n_clusters=3, init=X[:3], n_init=1, batch_size=100, random_state=0)
    for cls in (SkMiniBatchKMeans, MiniBatchKMeans):
        est = cls(**params).partial_fit(X[:100])
        centers, counts = est.cluster_centers_, est._counts
        est.partial_fit(X[100:200])
        assert est.cluster_centers_ is centers and est._counts is counts


def test_bad_random_state_set_after_the_first_call_raises_like_sklearn():
    # scikit-learn evaluates check_random_state(self.random_state) at every call.
    X = _blobs(np.float64, n_samples=1000, n_features=3, centers=3)
    params = dict(n_clusters=3, init=X[:3], n_init=1, batch_size=100, random_state=0)
    errors = []
    for cls in (SkMiniBatchKMeans, MiniBatchKMeans):
        est = cls(**params).partial_fit(X[:100])
        est.random_state = -1
        with pytest.raises(ValueError) as info:
            est.partial_fit(X[100:200])
        errors.append(str(info.value))
    assert errors[1] == errors[0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_successive_batches_do_not_depend_on_threads(dtype):
    X = _blobs(dtype, n_samples=8192 * 3)
    params = dict(n_clusters=32, init=X[:32], n_init=1, batch_size=8192, random_state=0)
    states = []
    for n in (1, 2):
        with threadpool_limits(n):
            est = MiniBatchKMeans(**params)
            for start in range(0, X.shape[0], 8192):
                est.partial_fit(X[start:start + 8192])
            state = _state(est)
        states.append(state)
    for key in ("centers", "counts", "labels_", "key"):
        assert_array_equal(states[0][key], states[1][key])
    assert states[0]["inertia_"] == states[1]["inertia_"]
