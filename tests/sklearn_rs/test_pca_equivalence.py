"""PCA against scikit-learn on the same data: every solver, dtype, whitening, shape, the ways
of choosing ``n_components``, sparse input, the fitted model's methods, errors and the random
draws taken from a shared ``RandomState``.

Tolerances: float64 results agree to 1e-9 relative to the largest value of each array (the two
libraries factorise with different LAPACK-like implementations: faer here, OpenBLAS/LAPACK in
scikit-learn); float32 results to 2e-4 (single precision factorisations of both sides).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.decomposition import PCA as SkPCA

from sklearn_rs import PCA

SOLVERS = ["full", "covariance_eigh", "arpack", "randomized"]
ATTRIBUTES = [
    "components_", "explained_variance_", "explained_variance_ratio_", "singular_values_",
    "mean_",
]


def correlated(n, d, dtype=np.float64, seed=0, offset=3.0):
    rng = np.random.RandomState(seed)
    mixing = rng.randn(d, d) * (0.8 ** np.arange(d))
    return (rng.randn(n, d) @ mixing + offset).astype(dtype)


def rtol_for(dtype):
    return 1e-9 if dtype == np.float64 else 2e-4


def assert_close(ours, theirs, dtype, what=""):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, what
    assert ours.dtype == theirs.dtype, what
    if theirs.size == 0:
        return
    scale = np.max(np.abs(theirs)) or 1.0
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=rtol_for(dtype) * scale, err_msg=what)


def fit_both(X, **params):
    ours, theirs = PCA(**params), SkPCA(**params)
    out = ours.fit_transform(X), theirs.fit_transform(X)
    return ours, theirs, out


def assert_same_model(ours, theirs, dtype):
    assert ours._fit_svd_solver == theirs._fit_svd_solver
    assert ours.n_components_ == theirs.n_components_
    assert ours.n_samples_ == theirs.n_samples_
    for attr in ATTRIBUTES:
        assert_close(getattr(ours, attr), getattr(theirs, attr), dtype, attr)
    assert type(ours.noise_variance_) is type(theirs.noise_variance_)
    scale = max(float(theirs.explained_variance_[0]) if theirs.n_components_ else 1.0, 1.0)
    assert abs(float(ours.noise_variance_) - float(theirs.noise_variance_)) <= (
        rtol_for(dtype) * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("whiten", [False, True])
@pytest.mark.parametrize("shape", [(300, 20), (25, 40)], ids=["tall", "wide"])
@pytest.mark.parametrize("solver", SOLVERS)
def test_solver_matches_sklearn(solver, shape, whiten, dtype):
    X = correlated(*shape, dtype=dtype)
    ours, theirs, (out_ours, out_theirs) = fit_both(
        X, n_components=5, svd_solver=solver, whiten=whiten, random_state=0)
    assert_same_model(ours, theirs, dtype)
    assert_close(out_ours, out_theirs, dtype, "fit_transform")
    assert_close(ours.transform(X), theirs.transform(X), dtype, "transform")
    Z = theirs.transform(X[:7])
    assert_close(ours.inverse_transform(Z), theirs.inverse_transform(Z), dtype, "inverse")
    assert_close(ours.score_samples(X[:9]), theirs.score_samples(X[:9]), dtype, "score_samples")
    assert abs(ours.score(X) - theirs.score(X)) <= rtol_for(dtype) * abs(theirs.score(X)) * 10
    assert_close(ours.get_covariance(), theirs.get_covariance(), dtype, "covariance")
    assert_close(ours.get_precision(), theirs.get_precision(), dtype, "precision")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_components", [None, 0, 1, 0.5, 0.95, 0.999, "mle", 20])
def test_number_of_components_matches_sklearn(n_components, dtype):
    X = correlated(400, 20, dtype=dtype, seed=3)
    ours, theirs, (out_ours, out_theirs) = fit_both(X, n_components=n_components,
                                                    svd_solver="full")
    assert_same_model(ours, theirs, dtype)
    assert_close(out_ours, out_theirs, dtype)


def test_mle_on_data_with_a_known_rank():
    # Rank-4 signal over small isotropic noise: Minka's rule recovers the rank.
    rng = np.random.RandomState(1)
    X = rng.randn(1000, 4) @ rng.randn(4, 12) * 5 + 0.01 * rng.randn(1000, 12)
    ours, theirs, _ = fit_both(X, n_components="mle")
    assert ours.n_components_ == theirs.n_components_ == 4


@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csc_matrix, sp.csr_array])
@pytest.mark.parametrize("solver", ["auto", "arpack", "covariance_eigh"])
def test_sparse_input_matches_sklearn(solver, container):
    X = sp.random(300, 25, density=0.2, random_state=2, format="csr") * 10
    X = container(X)
    ours, theirs, (out_ours, out_theirs) = fit_both(X, n_components=4, svd_solver=solver,
                                                    random_state=0)
    assert_same_model(ours, theirs, np.float64)
    assert_close(out_ours, out_theirs, np.float64, "fit_transform")
    assert_close(ours.transform(X), theirs.transform(X), np.float64, "transform")


@pytest.mark.parametrize("solver", ["full", "covariance_eigh", "arpack", "randomized"])
def test_large_offset_is_centred_accurately(solver):
    # Features far from the origin: centring loses nothing.
    X = correlated(500, 6, seed=4, offset=1e6)
    ours, theirs, (out_ours, out_theirs) = fit_both(X, n_components=3, svd_solver=solver,
                                                    random_state=0)
    exact = SkPCA(n_components=3, svd_solver="full").fit(X - X.mean(axis=0))
    np.testing.assert_allclose(ours.explained_variance_, exact.explained_variance_, rtol=1e-8)
    np.testing.assert_allclose(np.abs(ours.components_), np.abs(exact.components_), atol=1e-7)


@pytest.mark.parametrize("seed", range(5))
def test_randomized_follows_sklearn_draws_and_quality(seed):
    # A slowly decaying spectrum, where the randomized approximation is not exact: the same
    # random_state gives the same approximation (to rounding of the power iterations), and its
    # accuracy against the exact solution is the same as scikit-learn's.
    rng = np.random.RandomState(seed)
    X = rng.randn(2000, 120) * (1.0 / np.sqrt(np.arange(1, 121)))
    params = dict(n_components=10, svd_solver="randomized", random_state=seed)
    ours, theirs, _ = fit_both(X, **params)
    exact = SkPCA(n_components=10, svd_solver="full").fit(X)
    np.testing.assert_allclose(ours.explained_variance_, theirs.explained_variance_, rtol=1e-6)
    err_ours = np.abs(ours.explained_variance_ - exact.explained_variance_).max()
    err_theirs = np.abs(theirs.explained_variance_ - exact.explained_variance_).max()
    assert err_ours <= 1.1 * err_theirs + 1e-12
    assert np.abs(np.sum(ours.components_ * theirs.components_, axis=1)).min() > 1 - 1e-6


@pytest.mark.parametrize("normalizer", ["auto", "QR", "LU", "none"])
@pytest.mark.parametrize("shape", [(500, 30), (30, 500)], ids=["tall", "wide"])
def test_randomized_normalizers_match_sklearn(normalizer, shape):
    X = correlated(*shape, seed=5)
    for iterated_power in (0, 2, 5):
        ours, theirs, (out_ours, out_theirs) = fit_both(
            X, n_components=4, svd_solver="randomized", random_state=0,
            power_iteration_normalizer=normalizer, iterated_power=iterated_power,
            n_oversamples=3)
        assert_same_model(ours, theirs, np.float64)
        assert_close(out_ours, out_theirs, np.float64)


@pytest.mark.parametrize("solver", ["arpack", "randomized"])
def test_shared_random_state_advances_as_with_sklearn(solver):
    X = correlated(200, 30, seed=6)
    states = [np.random.RandomState(7), np.random.RandomState(7)]
    PCA(n_components=3, svd_solver=solver, random_state=states[0]).fit(X)
    SkPCA(n_components=3, svd_solver=solver, random_state=states[1]).fit(X)
    assert_array_equal(states[0].random_sample(5), states[1].random_sample(5))


@pytest.mark.parametrize("solver", SOLVERS)
def test_copy_false_leaves_x_unchanged(solver):
    X = correlated(200, 10, seed=8)
    original = X.copy()
    ours = PCA(n_components=3, svd_solver=solver, copy=False, random_state=0).fit(X)
    assert_array_equal(X, original)
    theirs = SkPCA(n_components=3, svd_solver=solver, random_state=0).fit(original.copy())
    assert_same_model(ours, theirs, np.float64)


def test_fit_transform_equals_fit_then_transform():
    X = correlated(500, 12, seed=9)
    for solver in SOLVERS:
        for whiten in (False, True):
            params = dict(n_components=4, svd_solver=solver, whiten=whiten, random_state=0)
            np.testing.assert_allclose(PCA(**params).fit_transform(X),
                                       PCA(**params).fit(X).transform(X), atol=1e-9)


def _error(call):
    try:
        call()
    except Exception as e:  # noqa: BLE001 - the type and message are what is compared
        return type(e), str(e)
    return None


BAD_CALLS = {
    "nan": (dict(n_components=2), lambda X: np.where(X > 4, np.nan, X)),
    "inf": (dict(n_components=2, svd_solver="full"), lambda X: np.where(X > 4, np.inf, X)),
    "nan-randomized": (dict(n_components=2, svd_solver="randomized"),
                       lambda X: np.where(X > 4, np.nan, X)),
    "nan-bad-n_components": (dict(n_components=50), lambda X: np.where(X > 4, np.nan, X)),
    "too-many-components": (dict(n_components=50, svd_solver="full"), lambda X: X),
    "arpack-all-components": (dict(n_components=10, svd_solver="arpack"), lambda X: X),
    "randomized-zero": (dict(n_components=0, svd_solver="randomized"), lambda X: X),
    "mle-wide": (dict(n_components="mle"), lambda X: X[:5]),
    "mle-arpack": (dict(n_components="mle", svd_solver="arpack"), lambda X: X),
    "sparse-full": (dict(n_components=2, svd_solver="full"), lambda X: sp.csr_matrix(X)),
    "sparse-randomized": (dict(n_components=2, svd_solver="randomized"),
                          lambda X: sp.csr_matrix(X)),
    "sparse-nan": (dict(n_components=2, svd_solver="arpack"),
                   lambda X: sp.csr_matrix(np.where(X > 4, np.nan, X))),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_errors_match_sklearn(case):
    params, make = BAD_CALLS[case]
    X = make(correlated(40, 10, seed=10))
    ours = _error(lambda: PCA(**params).fit(X))
    theirs = _error(lambda: SkPCA(**params).fit(X))
    assert theirs is not None
    assert ours == theirs


def test_method_errors_match_sklearn():
    X = correlated(40, 10, seed=11)
    ours, theirs = PCA(n_components=3).fit(X), SkPCA(n_components=3).fit(X)
    for call in (lambda m: m.transform(X[:, :5]), lambda m: m.score_samples(sp.csr_matrix(X)),
                 lambda m: m.transform(np.where(X > 4, np.nan, X))):
        assert _error(lambda: call(ours)) == _error(lambda: call(theirs))
    for call in (lambda m: m.transform(X), lambda m: m.score_samples(X)):
        ours_error, theirs_error = _error(lambda: call(PCA())), _error(lambda: call(SkPCA()))
        assert theirs_error is not None and ours_error == theirs_error


@pytest.mark.parametrize("solver, shape", [
    ("full", (20000, 30)),          # TSQR of row blocks
    ("full", (300, 2000)),          # wide: one SVD
    ("randomized", (20000, 30)),    # power iterations on the Gram matrix
    ("randomized", (100, 1500)),    # power iterations on X
])
def test_bitwise_identical_for_any_thread_count(solver, shape):
    from threadpoolctl import threadpool_limits

    X = correlated(*shape, seed=12)
    results = []
    for n_threads in (1, 2):
        with threadpool_limits(n_threads):
            est = PCA(n_components=5, svd_solver=solver, random_state=0, whiten=True)
            out = est.fit_transform(X)
            results.append([out, est.components_, est.explained_variance_, est.mean_,
                            est.transform(X[:100]), est.score_samples(X[:100])])
    for a, b in zip(*results):
        assert_array_equal(a, b)


def test_wide_sparse_input_falls_back_with_a_logged_reason(caplog):
    import logging

    from sklearn_rs._pca import MAX_SPARSE_FEATURES

    X = sp.random(50, MAX_SPARSE_FEATURES + 1, density=0.01, random_state=0, format="csr")
    with caplog.at_level(logging.INFO, logger="sklearn_rs"):
        ours = PCA(n_components=3, svd_solver="arpack", random_state=0).fit(X)
    assert any("ARPACK" in r.getMessage() for r in caplog.records)
    theirs = SkPCA(n_components=3, svd_solver="arpack", random_state=0).fit(X)
    assert_array_equal(ours.components_, theirs.components_)
