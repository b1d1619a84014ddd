"""Property-based fuzzing of sklearn_rs.KMeans against scikit-learn.

Random shapes (including fewer samples than clusters and zero features), dtypes (float16,
float32, float64, integers, bool), dense or CSR, and values that include NaN, inf, huge and
tiny numbers. For every case either both implementations raise the same exception type, or
sklearn_rs succeeds with valid labels and centers that are finite wherever scikit-learn's
are. Nothing may panic into Python ("internal error") or crash the process.
"""


import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.cluster import KMeans as SkKMeans
from sklearn.utils.validation import _check_sample_weight, validate_data

from sklearn_rs import KMeans, kmeans_plusplus
from fuzz_inputs import ANY_DTYPES, matrices
from skrs_utils import result_or_error

@st.composite
def kmeans_cases(draw):
    n_samples = draw(st.integers(0, 14))
    n_features = draw(st.integers(0, 4))
    n_clusters = draw(st.integers(1, 5))
    dtype = draw(st.sampled_from(ANY_DTYPES))
    X = draw(matrices((n_samples, n_features), dtype))
    if draw(st.booleans()) and dtype in (np.float32, np.float64, np.int32, np.int64):
        X = draw(st.sampled_from([sp.csr_matrix, sp.csr_array]))(X)
    weights = draw(st.sampled_from([None, "positive", "with_zeros", "special"]))
    if weights is None:
        sw = None
    elif weights == "special":
        sw = draw(arrays(np.float64, (n_samples,), elements=st.sampled_from(
            [1.0, 0.0, 1e-3, 1e3, 2.5])))
    else:
        # (subnormal weights make both implementations return NaN centers, differently
        # depending on the init, so they are left out)
        positive = st.floats(0.1, 10)
        elements = st.one_of(st.just(0.0), positive) if weights == "with_zeros" else positive
        sw = draw(arrays(np.float64, (n_samples,), elements=elements))
    params = dict(
        n_clusters=n_clusters,
        algorithm=draw(st.sampled_from(["lloyd", "elkan"])),
        init=draw(st.sampled_from(["k-means++", "random"])),
        n_init=draw(st.integers(1, 2)),
        max_iter=draw(st.integers(1, 20)),
        tol=draw(st.sampled_from([0.0, 1e-4, 1.0])),
        random_state=draw(st.integers(0, 3)),
    )
    return X, sw, params


def _passes_sklearn_validation(X, sw, params):
    """Whether scikit-learn's own input validation for KMeans.fit accepts the case. When it
    does and scikit-learn still fails, the failure is an accident of its numerics on
    non-finite intermediate values (e.g. float32 overflow); the drop-in may then succeed
    instead, with valid output."""
    def validate():
        est = SkKMeans(**params)
        est._validate_params()
        Xv = validate_data(est, X, accept_sparse="csr", dtype=[np.float64, np.float32],
                           order="C", accept_large_sparse=False)
        est._check_params_vs_input(Xv)
        _check_sample_weight(sw, Xv, dtype=Xv.dtype)

    return result_or_error(validate)[1] is None


def _check_labels(rs, X, n_clusters):
    n_samples, n_features = X.shape
    assert rs.labels_.shape == (n_samples,)
    assert rs.labels_.min() >= 0 and rs.labels_.max() < n_clusters
    assert rs.cluster_centers_.shape == (n_clusters, n_features)


def _check_valid(rs, sk, X, n_clusters):
    _check_labels(rs, X, n_clusters)
    assert rs.labels_.dtype == sk.labels_.dtype
    assert rs.cluster_centers_.dtype == sk.cluster_centers_.dtype
    sk_finite = np.isfinite(sk.cluster_centers_)
    assert np.isfinite(rs.cluster_centers_[sk_finite]).all(), (
        rs.cluster_centers_, sk.cluster_centers_)
    if np.isfinite(sk.inertia_):
        assert np.isfinite(rs.inertia_), (rs.inertia_, sk.inertia_)
    assert 1 <= rs.n_iter_ <= sk.max_iter
    labels, err = result_or_error(lambda: rs.predict(X))
    assert err is None or "internal error" not in str(err)
    if err is None:
        assert labels.shape == (X.shape[0],)
        assert labels.min() >= 0 and labels.max() < n_clusters


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(kmeans_cases())
def test_fuzz_fit_matches_sklearn_outcome(case):
    X, sw, params = case
    sk, sk_err = result_or_error(lambda: SkKMeans(**params).fit(X, sample_weight=sw))
    rs, rs_err = result_or_error(lambda: KMeans(**params).fit(X, sample_weight=sw))
    if rs_err is not None:
        assert "internal error" not in str(rs_err), repr(rs_err)
        assert not isinstance(rs_err, (RuntimeError, SystemError, AttributeError)), repr(rs_err)
    if sk_err is not None:
        if rs_err is None and _passes_sklearn_validation(X, sw, params):
            _check_labels(rs, X, params["n_clusters"])
            return
        assert rs_err is not None, f"scikit-learn raised {sk_err!r}; sklearn_rs did not"
        assert type(rs_err) is type(sk_err), f"sklearn_rs: {rs_err!r}; scikit-learn: {sk_err!r}"
        return
    assert rs_err is None, f"scikit-learn succeeded; sklearn_rs raised {rs_err!r}"
    _check_valid(rs, sk, sp.csr_matrix(X).toarray() if sp.issparse(X) else X,
                 params["n_clusters"])


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(kmeans_cases())
def test_fuzz_kmeans_plusplus_matches_sklearn_outcome(case):
    from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus

    X, sw, params = case
    k, seed = params["n_clusters"], params["random_state"]
    sk, sk_err = result_or_error(lambda: sk_kmeans_plusplus(X, k, sample_weight=sw, random_state=seed))
    rs, rs_err = result_or_error(lambda: kmeans_plusplus(X, k, sample_weight=sw, random_state=seed))
    if rs_err is not None:
        assert "internal error" not in str(rs_err), repr(rs_err)
    if sk_err is not None:
        if rs_err is None and _passes_sklearn_validation(X, sw, {"n_clusters": k}):
            return
        assert rs_err is not None, f"scikit-learn raised {sk_err!r}; sklearn_rs did not"
        assert type(rs_err) is type(sk_err), f"sklearn_rs: {rs_err!r}; scikit-learn: {sk_err!r}"
        return
    assert rs_err is None, f"scikit-learn succeeded; sklearn_rs raised {rs_err!r}"
    centers, indices = rs
    assert centers.shape == sk[0].shape
    # (the dtype of the returned centers is checked in test_kmeans_plusplus_centers_dtype)
    assert indices.shape == (k,)
    assert ((indices >= 0) & (indices < X.shape[0])).all()


@pytest.mark.parametrize("dtype", [np.float16, np.int64, np.bool_])
def test_kmeans_plusplus_centers_dtype(dtype):
    """scikit-learn's kmeans_plusplus returns the centers as rows of X in X's own dtype."""
    from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus

    X = (np.random.RandomState(0).uniform(0, 2, size=(20, 3)) > 1).astype(dtype)
    sk_centers, _ = sk_kmeans_plusplus(X, 3, random_state=0)
    centers, indices = kmeans_plusplus(X, 3, random_state=0)
    assert centers.dtype == sk_centers.dtype
    np.testing.assert_array_equal(centers, X[indices])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", [1e300, 3e38, 1e-300, 5e-324])
@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
def test_extreme_values_do_not_crash(dtype, value, algorithm):
    """Huge/tiny magnitudes: no crash, and finite results wherever scikit-learn's are."""
    rng = np.random.RandomState(0)
    with np.errstate(all="ignore"):
        X = (rng.uniform(-1, 1, size=(40, 3)) * value).astype(dtype)
    params = dict(n_clusters=3, n_init=1, random_state=0, algorithm=algorithm)
    sk, sk_err = result_or_error(lambda: SkKMeans(**params).fit(X))
    rs, rs_err = result_or_error(lambda: KMeans(**params).fit(X))
    if rs_err is not None:
        assert "internal error" not in str(rs_err)
    if sk_err is None:
        assert rs_err is None, repr(rs_err)
        _check_valid(rs, sk, X, 3)
    elif rs_err is None:
        # X is finite, so scikit-learn failed in its numerics, not in validation
        _check_labels(rs, X, 3)
    else:
        assert type(rs_err) is type(sk_err)


def test_huge_sample_weight_keeps_center_finite():
    """A single sample with a huge weight: the weighted mean is the sample itself.
    scikit-learn returns it (finite, n_iter_=1); overflow in sum(w * x) must not give inf."""
    X = np.array([[179769314.0]])
    sw = np.array([1e300])
    init = X.copy()
    sk = SkKMeans(n_clusters=1, init=init, n_init=1, max_iter=3).fit(X, sample_weight=sw)
    rs = KMeans(n_clusters=1, init=init, n_init=1, max_iter=3).fit(X, sample_weight=sw)
    assert np.isfinite(sk.cluster_centers_).all()
    np.testing.assert_allclose(rs.cluster_centers_, sk.cluster_centers_)
    assert rs.inertia_ == sk.inertia_
    assert rs.n_iter_ == sk.n_iter_
