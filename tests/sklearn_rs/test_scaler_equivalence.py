"""StandardScaler: fitted attributes and outputs against scikit-learn's on the same data.

Tolerances: bitwise (``assert_array_equal``, same dtypes and shapes) wherever scikit-learn's
summation order is reproduced: dense fits without ``sample_weight`` (C and F order, NaN,
batches), every sparse fit, ``n_samples_seen_``, and every transform / inverse_transform.
Dense fits with ``sample_weight``: scikit-learn sums through BLAS matrix-vector products, so
``rtol=1e-12`` (float64 accumulators for both dtypes).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.preprocessing import StandardScaler as Theirs
from threadpoolctl import threadpool_limits

from sklearn_rs import StandardScaler as Ours

ATTRIBUTES = ("mean_", "var_", "scale_", "n_samples_seen_")


def assert_same_state(ours, theirs, rtol=None):
    for name in ATTRIBUTES:
        a, b = getattr(ours, name), getattr(theirs, name)
        if b is None:
            assert a is None, name
            continue
        assert type(a) is type(b), (name, type(a), type(b))
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        if rtol is None or name == "n_samples_seen_":
            assert_array_equal(a, b, err_msg=name)
        else:
            assert_allclose(a, b, rtol=rtol, atol=0, err_msg=name)


def assert_same_output(a, b):
    if sp.issparse(b):
        assert sp.issparse(a) and a.format == b.format and a.dtype == b.dtype
        a, b = a.toarray(), b.toarray()
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.flags.c_contiguous == b.flags.c_contiguous
    assert a.flags.f_contiguous == b.flags.f_contiguous
    assert_array_equal(a, b)


def make_X(n, d, dtype, order="C", nan_fraction=0.0, offset=1.0, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, d)) * 3 + offset
    if nan_fraction:
        X[rng.rand(n, d) < nan_fraction] = np.nan
    return np.asarray(X.astype(dtype), order=order)


PARAMS = [
    {},
    {"with_mean": False},
    {"with_std": False},
    {"with_mean": False, "with_std": False},
]
SHAPES = [(500, 7), (3000, 1), (1, 4), (40, 60)]


@pytest.fixture(autouse=True)
def two_threads():
    with threadpool_limits(2):
        yield


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("nan_fraction", [0.0, 0.1])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_dense_fit_transform_bitwise(dtype, order, nan_fraction, shape):
    X = make_X(*shape, dtype, order, nan_fraction, offset=50.0)
    for params in PARAMS:
        ours, theirs = Ours(**params).fit(X), Theirs(**params).fit(X)
        assert_same_state(ours, theirs)
        out, ref = ours.transform(X), theirs.transform(X)
        assert_same_output(out, ref)
        assert_same_output(ours.inverse_transform(out), theirs.inverse_transform(ref))
        assert_same_output(Ours(**params).fit_transform(X), Theirs(**params).fit_transform(X))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("view", ["rows", "columns", "transposed"])
def test_non_contiguous_views(dtype, view):
    base = make_X(400, 12, dtype, nan_fraction=0.05)
    X = {"rows": base[::3], "columns": base[:, ::2], "transposed": base.T[::2].T}[view]
    ours, theirs = Ours().fit(X), Theirs().fit(X)
    assert_same_state(ours, theirs)
    assert_same_output(ours.transform(X), theirs.transform(X))
    # In place on a view writes through to the base array, as scikit-learn's does.
    b1, b2 = base.copy(), base.copy()
    v1 = {"rows": b1[::3], "columns": b1[:, ::2], "transposed": b1.T[::2].T}[view]
    v2 = {"rows": b2[::3], "columns": b2[:, ::2], "transposed": b2.T[::2].T}[view]
    Ours(copy=False).fit(v1).transform(v1)
    Theirs(copy=False).fit(v2).transform(v2)
    assert_array_equal(b1, b2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order", ["C", "F"])
def test_partial_fit_batches_with_mixed_nan(dtype, order):
    X = make_X(900, 6, dtype, order, offset=1e3)
    X[:300][np.random.RandomState(1).rand(300, 6) < 0.2] = np.nan  # NaN in the first batch only
    ours, theirs = Ours(), Theirs()
    for part in np.array_split(X, [300, 310, 600]):
        ours.partial_fit(part)
        theirs.partial_fit(part)
        assert_same_state(ours, theirs)
    assert_same_output(ours.transform(X), theirs.transform(X))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nan_fraction", [0.0, 0.1])
def test_sample_weight(dtype, nan_fraction):
    X = make_X(700, 5, dtype, nan_fraction=nan_fraction, offset=20.0)
    w = np.random.RandomState(2).uniform(0.1, 3.0, X.shape[0])
    for params in PARAMS:
        ours = Ours(**params).fit(X, sample_weight=w)
        theirs = Theirs(**params).fit(X, sample_weight=w)
        assert_same_state(ours, theirs, rtol=1e-12)
        # Batches with weights: n_samples_seen_ becomes X's dtype, as scikit-learn makes it.
        ours, theirs = Ours(**params), Theirs(**params)
        for part, wp in zip(np.array_split(X, 3), np.array_split(w, 3)):
            ours.partial_fit(part, sample_weight=wp)
            theirs.partial_fit(part, sample_weight=wp)
        assert_same_state(ours, theirs, rtol=1e-12)


def test_copy_false_works_in_place():
    X = make_X(200, 4, np.float64)
    X1, X2 = X.copy(), X.copy()
    out1 = Ours(copy=False).fit(X1).transform(X1)
    out2 = Theirs(copy=False).fit(X2).transform(X2)
    assert out1 is X1 and out2 is X2
    assert_array_equal(X1, X2)
    back = Ours(copy=False).fit(X).inverse_transform(X1)
    assert back is X1
    # transform(copy=True) leaves the input alone and returns a new array.
    X3 = X.copy()
    out = Ours().fit(X3).transform(X3, copy=True)
    assert out is not X3 and np.array_equal(X3, X)
    # Read-only input with copy=False: scikit-learn copies it (force_writeable).
    ro = X.copy()
    ro.flags.writeable = False
    assert_same_output(Ours(copy=False).fit(ro).transform(ro),
                       Theirs(copy=False).fit(ro).transform(ro))


def test_constant_and_near_constant_features():
    n = 1000
    X = np.empty((n, 4))
    X[:, 0] = 0.1  # constant, inexact in binary: variance within rounding, scale 1
    X[:, 1] = 1e8 + np.tile([0.0, 1e-7], n // 2)  # within the error bound of its mean
    X[:, 2] = np.tile([0.0, 1.0], n // 2)
    X[:, 3] = 5.0
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        ours, theirs = Ours().fit(Xd), Theirs().fit(Xd)
        assert_same_state(ours, theirs)
        assert ours.scale_[0] == 1.0 and ours.scale_[3] == 1.0
        assert_same_output(ours.transform(Xd), theirs.transform(Xd))


@pytest.mark.parametrize("offset", [1e6, 1e9, -1e12])
def test_large_offsets(offset):
    X = make_X(2000, 3, np.float64, offset=offset)
    ours, theirs = Ours().fit(X), Theirs().fit(X)
    assert_same_state(ours, theirs)
    assert_same_output(ours.transform(X), theirs.transform(X))


def test_all_nan_feature():
    X = make_X(50, 3, np.float64)
    X[:, 1] = np.nan
    with np.errstate(all="ignore"):
        ours, theirs = Ours().fit(X), Theirs().fit(X)
        assert_same_state(ours, theirs)
        assert_same_output(ours.transform(X), theirs.transform(X))


def test_results_do_not_depend_on_thread_count():
    # Wide enough that the statistics passes split columns between threads.
    X = make_X(3000, 600, np.float64, nan_fraction=0.01)
    results = []
    for n in (1, 2):
        with threadpool_limits(n):
            est = Ours().fit(X)
            results.append((est.mean_, est.var_, est.transform(X)))
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()
    assert_same_state(est, Theirs().fit(X))


def test_float16_falls_back_to_scikit_learn(caplog):
    X = make_X(100, 3, np.float16)
    with caplog.at_level("INFO", logger="sklearn_rs"):
        ours = Ours().fit(X)
    assert "float16" in caplog.text
    theirs = Theirs().fit(X)
    assert_same_state(ours, theirs)
    assert_same_output(ours.transform(X), theirs.transform(X))
