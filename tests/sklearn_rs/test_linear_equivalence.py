"""LinearRegression and Ridge against scikit-learn on the same data: every solver, dense and
sparse X, float32 and float64, sample weights, several targets, per-target penalties,
rank-deficient and wide designs, positive coefficients, the fitted attributes (``rank_``,
``singular_``, ``n_iter_``, ``solver_``), warnings and errors.

Tolerances: direct solvers agree to 1e-9 relative to the largest coefficient in float64 (faer
and OpenBLAS/LAPACK round differently; the Gram route adds at most ``cond^2`` ulps, see
``GRAM_MAX_CONDITION``) and 2e-4 in float32. LSQR and CG are ports of scipy's and agree to
1e-7 with the same iteration counts. Positive ridge is the exact constrained minimiser, which
scikit-learn's L-BFGS-B approaches to its ``tol``: compared to 1e-5 with ``tol=1e-10``.
LSQR runs in float64 whatever X's dtype, so float32 iteration counts may differ from scipy's.
SAG and SAGA draw the same samples from the same seeds and take the same steps: in float64 the
same ``n_iter_`` and coefficients to 1e-9.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.linear_model as sk
from scipy.linalg import LinAlgWarning
from sklearn.exceptions import ConvergenceWarning  # noqa: F401  (warnings filter below)
from threadpoolctl import threadpool_limits

import sklearn_rs
from skrs_utils import assert_same_error, recorded_warnings, split_numbers

SPARSE = [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array]


def regression(n=200, d=6, targets=None, dtype=np.float64, seed=0, density=None):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d) @ (np.eye(d) + 0.3 * rng.randn(d, d)) + rng.randn(d) * 3
    if density is not None:
        X[rng.rand(n, d) > density] = 0.0
    shape = (d,) if targets is None else (d, targets)
    y = X @ rng.randn(*shape) + 0.5 * rng.randn(*((n,) if targets is None else (n, targets)))
    return X.astype(dtype), (y + 2.0).astype(dtype)


def rtol_for(dtype):
    return 1e-9 if dtype == np.float64 else 2e-4


def assert_close(ours, theirs, rtol, what=""):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, what
    assert ours.dtype == theirs.dtype, what
    scale = max(float(np.max(np.abs(theirs), initial=0.0)), 1.0)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=rtol * scale, err_msg=what)


def assert_same_fit(ours, theirs, rtol, same_iterations=True):
    for attr in ("coef_", "intercept_", "singular_"):
        if hasattr(theirs, attr):
            assert_close(getattr(ours, attr), getattr(theirs, attr), rtol, attr)
    assert type(ours.intercept_) is type(theirs.intercept_)
    if hasattr(theirs, "rank_"):
        assert ours.rank_ == theirs.rank_
    for attr in ("solver_",):
        if hasattr(theirs, attr):
            assert getattr(ours, attr) == getattr(theirs, attr)
    if getattr(theirs, "n_iter_", None) is not None:
        if same_iterations:
            np.testing.assert_array_equal(ours.n_iter_, theirs.n_iter_)
        assert ours.n_iter_.shape == theirs.n_iter_.shape
        assert ours.n_iter_.dtype == theirs.n_iter_.dtype
    elif hasattr(theirs, "n_iter_"):
        assert ours.n_iter_ is None


def fit_both(name, X, y, sample_weight=None, **params):
    ours = getattr(sklearn_rs, name)(**params).fit(X, y, sample_weight=sample_weight)
    theirs = getattr(sk, name)(**params).fit(X, y, sample_weight=sample_weight)
    return ours, theirs


# --- LinearRegression -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("targets", [None, 1, 3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_linear_regression_dense(dtype, targets, weighted, fit_intercept):
    X, y = regression(targets=targets, dtype=dtype)
    sw = np.random.RandomState(1).uniform(0.2, 3, X.shape[0]) if weighted else None
    ours, theirs = fit_both("LinearRegression", X, y, sw, fit_intercept=fit_intercept)
    assert_same_fit(ours, theirs, rtol_for(dtype))
    assert_close(ours.predict(X), theirs.predict(X), rtol_for(dtype), "predict")
    assert ours.score(X, y) == pytest.approx(theirs.score(X, y), rel=rtol_for(dtype))


@pytest.mark.parametrize("container", SPARSE)
@pytest.mark.parametrize("targets", [None, 2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_linear_regression_sparse_runs_scipys_lsqr(container, targets, weighted, fit_intercept):
    X, y = regression(n=300, targets=targets, density=0.4)
    sw = np.random.RandomState(2).uniform(0.2, 3, X.shape[0]) if weighted else None
    ours, theirs = fit_both("LinearRegression", container(X), y, sw,
                            fit_intercept=fit_intercept)
    assert_same_fit(ours, theirs, 1e-7)
    assert not hasattr(ours, "rank_")
    assert_close(ours.predict(container(X)), theirs.predict(container(X)), 1e-7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_regression_collinear_columns_minimum_norm(dtype):
    # Duplicated and linearly dependent columns: the minimum-norm solution, rank_ and the
    # singular values (zeros included) are LAPACK gelsd's.
    X, y = regression(n=80, d=4, dtype=dtype)
    X = np.c_[X, X[:, 0], 2 * X[:, 1] - X[:, 2]].astype(dtype)
    ours, theirs = fit_both("LinearRegression", X, y)
    assert ours.rank_ == theirs.rank_ == 4
    assert_same_fit(ours, theirs, 10 * rtol_for(dtype))


@pytest.mark.parametrize("tol", [1e-6, 0.05, 0.5])
def test_linear_regression_tol_is_the_rank_cutoff(tol):
    # Columns of very different scales: a larger tol drops the small singular values.
    X, y = regression(n=100, d=5)
    X = X * [1.0, 1e-1, 1e-2, 1e-3, 1.0]
    ours, theirs = fit_both("LinearRegression", X, y, tol=tol)
    assert ours.rank_ == theirs.rank_
    assert_same_fit(ours, theirs, 1e-9)


@pytest.mark.parametrize("n, d", [(5, 12), (12, 12), (1, 3)])
def test_linear_regression_wide_and_square(n, d):
    X, y = regression(n=n, d=d, targets=2)
    ours, theirs = fit_both("LinearRegression", X, y)
    assert_same_fit(ours, theirs, 1e-9)


@pytest.mark.parametrize("targets", [None, 2])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_linear_regression_positive_is_nnls(targets, fit_intercept, weighted):
    X, y = regression(n=150, d=8, targets=targets, seed=3)
    sw = np.random.RandomState(4).uniform(0.2, 3, X.shape[0]) if weighted else None
    ours, theirs = fit_both("LinearRegression", X, y, sw, positive=True,
                            fit_intercept=fit_intercept)
    assert (ours.coef_ >= 0).all() and (ours.coef_ == 0).any()
    assert_same_fit(ours, theirs, 1e-8)


def test_linear_regression_integer_data_and_input_untouched():
    X, y = regression(n=60, d=3)
    X_int = np.round(X * 10).astype(np.int64)
    X_copy = X_int.copy()
    ours, theirs = fit_both("LinearRegression", X_int, y, copy_X=False)
    assert_same_fit(ours, theirs, 1e-9)
    np.testing.assert_array_equal(X_int, X_copy)
    X_float = X.copy()
    sklearn_rs.LinearRegression(copy_X=False).fit(X_float, y)
    np.testing.assert_array_equal(X_float, X)  # never centred in place (README)


@pytest.mark.parametrize("params, sample_weight, container", [
    ({}, np.zeros(30), None),  # np.average's ZeroDivisionError
    ({}, -np.ones(30), None),
    ({}, np.ones(5), None),
    ({"positive": True}, None, sp.csr_matrix),
])
def test_linear_regression_errors(params, sample_weight, container):
    X, y = regression(n=30, d=3)
    Xc = X if container is None else container(X)
    assert_same_error(lambda impl: (sk if impl == "sklearn" else sklearn_rs).LinearRegression(
        **params).fit(Xc, y, sample_weight=sample_weight))


# --- Ridge ------------------------------------------------------------------------------------

DENSE_SOLVERS = ["auto", "cholesky", "svd", "lsqr", "sparse_cg"]


def ridge_params(solver):
    # Iterative solvers to a tight tolerance, so both stop near the same optimum.
    return {"solver": solver, **({"tol": 1e-10} if solver in ("lsqr", "sparse_cg") else {})}


def ridge_rtol(solver, dtype):
    if dtype == np.float32:
        return 2e-4
    return 1e-7 if solver in ("lsqr", "sparse_cg") else 1e-9


@pytest.mark.parametrize("solver", DENSE_SOLVERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("targets", [None, 3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_dense(solver, dtype, targets, weighted, fit_intercept):
    X, y = regression(targets=targets, dtype=dtype)
    sw = np.random.RandomState(1).uniform(0.2, 3, X.shape[0]) if weighted else None
    ours, theirs = fit_both("Ridge", X, y, sw, alpha=2.0, fit_intercept=fit_intercept,
                            **ridge_params(solver))
    # LSQR's vectors are float64 here whatever X's dtype; scipy's mix float32 products into
    # them, so with float32 X its stopping tests trip at other iterations.
    assert_same_fit(ours, theirs, ridge_rtol(solver, dtype), same_iterations=dtype == np.float64)
    assert_close(ours.predict(X), theirs.predict(X), ridge_rtol(solver, dtype))


@pytest.mark.parametrize("solver", ["auto", "lsqr", "sparse_cg"])
@pytest.mark.parametrize("container", SPARSE)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_sparse(solver, container, weighted, fit_intercept):
    X, y = regression(n=300, density=0.4, targets=2)
    sw = np.random.RandomState(2).uniform(0.2, 3, X.shape[0]) if weighted else None
    ours, theirs = fit_both("Ridge", container(X), y, sw, alpha=0.7,
                            fit_intercept=fit_intercept, **ridge_params(solver))
    assert_same_fit(ours, theirs, 1e-7)


@pytest.mark.parametrize("solver", DENSE_SOLVERS)
def test_ridge_per_target_alpha(solver):
    X, y = regression(targets=3)
    ours, theirs = fit_both("Ridge", X, y, alpha=[0.1, 1.0, 50.0], **ridge_params(solver))
    assert_same_fit(ours, theirs, ridge_rtol(solver, np.float64))


@pytest.mark.parametrize("solver", ["auto", "cholesky", "svd", "lsqr", "sparse_cg"])
@pytest.mark.parametrize("weighted", [False, True])
def test_ridge_more_features_than_samples(solver, weighted):
    # cholesky takes the dual (kernel) form, sparse_cg its kernel operator.
    X, y = regression(n=15, d=40, targets=2)
    sw = np.random.RandomState(5).uniform(0.2, 3, X.shape[0]) if weighted else None
    ours, theirs = fit_both("Ridge", X, y, sw, alpha=0.3, **ridge_params(solver))
    assert_same_fit(ours, theirs, ridge_rtol(solver, np.float64))


@pytest.mark.parametrize("max_iter", [1, 3])
@pytest.mark.parametrize("solver", ["lsqr", "sparse_cg"])
def test_ridge_iteration_limits(solver, max_iter):
    X, y = regression(n=100, d=10)
    X[:, 1] *= 30  # slow to converge
    ours, theirs = fit_both("Ridge", X, y, solver=solver, max_iter=max_iter, tol=1e-12)
    assert_same_fit(ours, theirs, 1e-7)


@pytest.mark.parametrize("container", [None, sp.csr_matrix])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("targets", [None, 2])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_positive_is_the_constrained_minimiser(targets, fit_intercept, weighted, container):
    X, y = regression(n=120, d=8, targets=targets, seed=6, density=0.7 if container else None)
    X = X if container is None else container(X)
    sw = np.random.RandomState(8).uniform(0.3, 2, 120) if weighted else None
    ours, theirs = fit_both("Ridge", X, y, sw, alpha=0.5, positive=True, tol=1e-10,
                            fit_intercept=fit_intercept)
    assert (ours.coef_ >= 0).all() and (ours.coef_ == 0).any()
    assert ours.solver_ == theirs.solver_ == "lbfgs" and ours.n_iter_ is None
    assert_close(ours.coef_, theirs.coef_, 1e-5)
    assert_close(ours.intercept_, theirs.intercept_, 1e-5)


def test_ridge_ill_conditioned_warning_and_singular_fallback_to_svd():
    # alpha = 0 on collinear columns: scipy's "ill-conditioned matrix" (or "singular",
    # which sends scikit-learn to the svd solver) must come out the same.
    X, y = regression(n=50, d=4)
    X = np.c_[X, X[:, 0] + X[:, 1]]
    for alpha in (0.0, 1e-13):
        ours = recorded_warnings(lambda: sklearn_rs.Ridge(alpha=alpha, solver="cholesky").fit(X, y))
        theirs = recorded_warnings(lambda: sk.Ridge(alpha=alpha, solver="cholesky").fit(X, y))
        assert [(c, split_numbers(m)[0]) for c, m in ours] == [
            (c, split_numbers(m)[0]) for c, m in theirs]
        a = sklearn_rs.Ridge(alpha=alpha, solver="cholesky").fit(X, y)
        b = sk.Ridge(alpha=alpha, solver="cholesky").fit(X, y)
        assert a.solver_ == b.solver_


def test_ridge_rcond_matches_lapack_estimate():
    # Nearly collinear columns: rcond ~5e-17, below float64's epsilon, far from singular (for
    # rcond near 1e-18 whether Cholesky meets a non-positive pivot, which sends scikit-learn
    # to svd, depends on rounding).
    rng = np.random.RandomState(0)
    X, y = rng.randn(60, 5), rng.randn(60)
    X[:, 4] = X[:, 0] + 1e-9 * X[:, 4]
    with warnings.catch_warnings(record=True) as ours_w:
        warnings.simplefilter("always")
        sklearn_rs.Ridge(alpha=1e-15, solver="cholesky").fit(X, y)
    with warnings.catch_warnings(record=True) as theirs_w:
        warnings.simplefilter("always")
        sk.Ridge(alpha=1e-15, solver="cholesky").fit(X, y)
    ours = [split_numbers(str(w.message))[1] for w in ours_w if w.category is LinAlgWarning]
    theirs = [split_numbers(str(w.message))[1] for w in theirs_w if w.category is LinAlgWarning]
    assert len(ours) == len(theirs) == 1
    assert ours[0][0] == pytest.approx(theirs[0][0], rel=0.5)


@pytest.mark.parametrize("kwargs, container", [
    (dict(solver="lbfgs"), None),
    (dict(solver="svd", positive=True), None),
    (dict(solver="svd"), sp.csr_matrix),
    (dict(solver="cholesky"), sp.csr_matrix),  # with an intercept on sparse data
    (dict(alpha=[1.0, 2.0]), None),
    (dict(alpha=-1.0), None),
])
def test_ridge_errors(kwargs, container):
    X, y = regression(n=30, d=3)
    Xc = X if container is None else container(X)
    assert_same_error(lambda impl: (sk if impl == "sklearn" else sklearn_rs).Ridge(**kwargs).fit(
        Xc, y))


@pytest.mark.parametrize("params, sparse_input", [
    (dict(positive=True, max_iter=5), False), (dict(positive=True, alpha=0.0), True),
    (dict(solver="cholesky", fit_intercept=False), True),
])
def test_ridge_fallbacks_are_logged_and_match(params, sparse_input, caplog):
    X, y = regression(n=80, d=4)
    Xc = sp.csr_matrix(X) if sparse_input else X
    est = sklearn_rs.Ridge(random_state=0, **params)
    reason = est._fallback_reason(Xc)
    assert reason
    ours = est.fit(Xc, y)
    theirs = sk.Ridge(random_state=0, **params).fit(Xc, y)
    np.testing.assert_array_equal(ours.coef_, theirs.coef_)


@pytest.mark.parametrize("targets", [None, 2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("solver, container, fit_intercept", [
    (solver, container, fit_intercept)
    for solver in ["sag", "saga"]
    for container in [None, sp.csr_matrix]
    for fit_intercept in [True, False]
    # scikit-learn rejects saga with an intercept on sparse data
    if not (solver == "saga" and container is not None and fit_intercept)
])
def test_ridge_sag_takes_sklearns_steps(solver, container, fit_intercept, targets, weighted):
    # The same seeds, the same samples drawn, the same epochs: n_iter_ equal, coefficients
    # to rounding (float64).
    X, y = regression(n=200, d=5, targets=targets, density=0.6 if container else None)
    X = X if container is None else container(X)
    sw = np.random.RandomState(3).uniform(0.3, 2, 200) if weighted else None
    # On sparse data with an intercept scikit-learn keeps sag only for tol > 1e-4 (warning).
    params = dict(alpha=0.8, solver=solver, random_state=7, fit_intercept=fit_intercept,
                  tol=1e-3)
    ours = recorded_warnings(lambda: sklearn_rs.Ridge(**params).fit(X, y, sample_weight=sw))
    theirs = recorded_warnings(lambda: sk.Ridge(**params).fit(X, y, sample_weight=sw))
    assert ours == theirs
    a, b = fit_both("Ridge", X, y, sw, **params)
    assert a.solver_ == b.solver_ == solver
    assert_same_fit(a, b, 1e-9)


def test_ridge_sag_random_state_instance_and_max_iter_warning():
    X, y = regression(n=120, d=4, targets=3)
    fits = []
    for module in (sk, sklearn_rs):
        rs = np.random.RandomState(11)  # advanced once per target, as make_dataset does
        est = module.Ridge(solver="sag", random_state=rs, max_iter=3, tol=1e-12)
        fits.append((recorded_warnings(lambda: est.fit(X, y)), est, rs.randint(1 << 30)))
    (w_sk, sk_est, sk_next), (w_rs, rs_est, rs_next) = fits
    assert w_rs == w_sk and len(w_sk) == 3  # one ConvergenceWarning per target
    assert rs_next == sk_next
    assert_same_fit(rs_est, sk_est, 1e-9)


# --- both -------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: sklearn_rs.LinearRegression(),
    lambda: sklearn_rs.LinearRegression(positive=True),
    lambda: sklearn_rs.Ridge(solver="cholesky"),
    lambda: sklearn_rs.Ridge(solver="svd"),
    lambda: sklearn_rs.Ridge(positive=True),
])
@pytest.mark.parametrize("shape", [(30_000, 20), (300, 500)])
def test_bitwise_identical_whatever_the_thread_count(make, shape):
    X, y = regression(n=shape[0], d=shape[1], targets=2)
    sw = np.random.RandomState(0).uniform(0.5, 2, shape[0])
    results = []
    for threads in (1, 2):
        with threadpool_limits(threads):
            est = make().fit(X, y, sample_weight=sw)
            results.append((est.coef_.copy(), np.copy(est.intercept_), est.predict(X)))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["LinearRegression", "Ridge"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_dtype_follows_numpy_promotion(name, dtype):
    X, y = regression(n=40, d=3, dtype=dtype)
    ours, theirs = fit_both(name, X, y)
    for Xp in (X, X.astype(np.float32), X.astype(np.float64), np.round(X).astype(np.int32),
               sp.csr_matrix(X)):
        assert_close(ours.predict(Xp), theirs.predict(Xp), rtol_for(dtype))
    ours.intercept_ = theirs.intercept_ = 0.0
    assert_close(ours.predict(X), theirs.predict(X), rtol_for(dtype))


_NON_FINITE_CASES = [
    ("LinearRegression", {}),
    ("LinearRegression", {"positive": True}),
    ("LinearRegression", {"fit_intercept": False}),
    *[("Ridge", {"solver": s}) for s in ["cholesky", "svd", "lsqr", "sparse_cg"]],
    ("Ridge", {"positive": True}),
]


def _takes_sparse(params):
    return not params.get("positive") and params.get("solver") not in ("cholesky", "svd")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name, params, layout", [
    (name, params, layout)
    for name, params in _NON_FINITE_CASES
    for layout in ["dense", "wide", "csr"]
    if layout != "csr" or _takes_sparse(params)
])
def test_non_finite_x_gets_sklearns_error(name, params, layout, value):
    # Finiteness of float X is checked by the kernels' pass, not by a separate one.
    X, y = regression(n=10 if layout == "wide" else 40, d=20 if layout == "wide" else 4)
    X[3, 1] = value
    if layout == "csr":
        X = sp.csr_matrix(X)
    assert_same_error(lambda impl: getattr(sk if impl == "sklearn" else sklearn_rs, name)(
        **params).fit(X, y))
