"""StandardScaler on CSR and CSC input against scikit-learn (bitwise: the sparse statistics
follow ``sparsefuncs_fast``'s storage order and dtype, the scaling NumPy's float64 product)."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.preprocessing import StandardScaler as Theirs
from skrs_utils import assert_same_error
from test_scaler_equivalence import assert_same_output, assert_same_state
from threadpoolctl import threadpool_limits

from sklearn_rs import StandardScaler as Ours


def make_sparse(fmt, dtype, nan=True, seed=0, n=400, d=15):
    X = sp.random(n, d, density=0.3, format=fmt, dtype=np.float64, random_state=seed)
    X.data = X.data * 10 + 1
    if nan:
        X.data[::13] = np.nan
    return X.astype(dtype)


@pytest.fixture(autouse=True)
def two_threads():
    with threadpool_limits(2):
        yield


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("with_std", [True, False])
def test_sparse_fit_transform_bitwise(fmt, dtype, weighted, with_std):
    X = make_sparse(fmt, dtype)
    w = np.random.RandomState(1).uniform(0.5, 2, X.shape[0]) if weighted else None
    ours = Ours(with_mean=False, with_std=with_std).fit(X, sample_weight=w)
    theirs = Theirs(with_mean=False, with_std=with_std).fit(X, sample_weight=w)
    assert_same_state(ours, theirs)
    out, ref = ours.transform(X), theirs.transform(X)
    assert_same_output(out, ref)
    assert_same_output(ours.inverse_transform(out), theirs.inverse_transform(ref))


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_partial_fit_bitwise(fmt, dtype, weighted):
    X = make_sparse(fmt, dtype).tocsr()
    w = np.random.RandomState(1).uniform(0.5, 2, X.shape[0]) if weighted else None
    ours, theirs = Ours(with_mean=False), Theirs(with_mean=False)
    for start in range(0, X.shape[0], 150):
        part = X[start:start + 150].asformat(fmt)
        wp = None if w is None else w[start:start + 150]
        ours.partial_fit(part, sample_weight=wp)
        theirs.partial_fit(part, sample_weight=wp)
        assert_same_state(ours, theirs)


def test_sparse_copy_false_scales_in_place():
    X = make_sparse("csr", np.float64)
    X1, X2 = X.copy(), X.copy()
    out1 = Ours(with_mean=False, copy=False).fit(X1).transform(X1)
    out2 = Theirs(with_mean=False, copy=False).fit(X2).transform(X2)
    assert out1 is X1 and out2 is X2
    assert_array_equal(X1.data, X2.data)


def test_int64_indices():
    X = make_sparse("csr", np.float64)
    X.indices = X.indices.astype(np.int64)
    X.indptr = X.indptr.astype(np.int64)
    ours, theirs = Ours(with_mean=False).fit(X), Theirs(with_mean=False).fit(X)
    assert_same_state(ours, theirs)
    assert_same_output(ours.transform(X), theirs.transform(X))


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("method", ["fit", "transform", "inverse_transform"])
def test_centering_sparse_raises_scikit_learns_error(fmt, method):
    X = make_sparse(fmt, np.float64, nan=False)

    def call(impl):
        cls = Theirs if impl == "sklearn" else Ours
        if method == "fit":
            return cls().fit(X)
        est = cls().fit(X.toarray())
        return getattr(est, method)(X)

    assert_same_error(call)
