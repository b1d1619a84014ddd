"""LogisticRegression against scikit-learn: the optimum of every solver name, weights,
intercept scaling, float32, CSR, warm starts, convergence warnings, fallbacks and errors.

Tolerances. Fits at scikit-learn's default ``tol`` are compared with the tolerance scikit-learn's
own test_logistic.py uses between its solvers (``rtol=1e-3``, ``atol=1e-4`` on ``coef_``, as in
``test_logistic_regression_solvers_multiclass``); ours runs scikit-learn's L-BFGS-B iterations,
so it is usually far closer. Fits at ``tol=1e-10`` reach the optimum on both sides and are
compared at ``rtol=1e-6``. float32 data is compared at float32 tolerances.
"""

import logging
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

from sklearn_rs import LogisticRegression

SOLVERS = ["lbfgs", "newton-cg", "newton-cholesky", "sag", "saga"]


def _data(n_classes=2, n_samples=300, n_features=6, seed=0, dtype=np.float64):
    X, y = make_classification(
        n_samples=n_samples, n_features=n_features, n_informative=4, n_redundant=1,
        n_classes=n_classes, random_state=seed,
    )
    return X.astype(dtype), y


def _fit_both(params, X, y, sample_weight=None, theirs=None):
    ours = LogisticRegression(**params).fit(X, y, sample_weight=sample_weight)
    theirs = SkLogisticRegression(**(theirs or params)).fit(X, y, sample_weight=sample_weight)
    return ours, theirs


def _close(ours, theirs, rtol, atol):
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=rtol, atol=atol)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=rtol, atol=atol)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("C", [1.0, 0.01, np.inf])
@pytest.mark.parametrize("sparse", [False, True])
def test_lbfgs_default_tol(n_classes, fit_intercept, C, sparse):
    X, y = _data(n_classes)
    if sparse:
        X[np.abs(X) < 0.5] = 0
        X = sp.csr_matrix(X)
    params = dict(C=C, fit_intercept=fit_intercept, max_iter=1000)
    ours, theirs = _fit_both(params, X, y)
    _close(ours, theirs, rtol=1e-3, atol=1e-4)
    assert ours.n_iter_.dtype == theirs.n_iter_.dtype and ours.n_iter_.shape == (1,)
    # The same L-BFGS-B iterations: the counts agree to an iteration or two.
    assert abs(int(ours.n_iter_[0]) - int(theirs.n_iter_[0])) <= 2
    for method in ("decision_function", "predict_proba", "predict_log_proba"):
        np.testing.assert_allclose(
            getattr(ours, method)(X), getattr(theirs, method)(X), rtol=1e-3, atol=1e-4
        )
    np.testing.assert_array_equal(ours.predict(X[:50]), theirs.predict(X[:50]))


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("solver", SOLVERS)
def test_every_solver_reaches_the_optimum(n_classes, solver):
    X, y = _data(n_classes, n_samples=400)
    ours = LogisticRegression(solver=solver, C=0.5, tol=1e-10, max_iter=5000).fit(X, y)
    reference = SkLogisticRegression(C=0.5, tol=1e-10, max_iter=5000).fit(X, y)
    # The reference stops on lbfgs' relative reduction test (64 eps), a few 1e-8 from the
    # optimum.
    _close(ours, reference, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("intercept_scaling", [1.0, 0.5, 10.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("dual", [False, True])
def test_liblinear_problem(intercept_scaling, fit_intercept, dual):
    # liblinear penalises the intercept as the weight of a synthetic feature; at a tight
    # tolerance both reach that problem's optimum.
    X, y = _data(2)
    params = dict(solver="liblinear", C=0.3, intercept_scaling=intercept_scaling,
                  fit_intercept=fit_intercept, dual=dual, tol=1e-12, max_iter=10000)
    ours, theirs = _fit_both(params, X, y)
    _close(ours, theirs, rtol=1e-5, atol=1e-7)
    assert ours.coef_.dtype == theirs.coef_.dtype == np.float64
    assert type(ours.intercept_) is type(theirs.intercept_)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("class_weight", [None, "balanced", "dict"])
@pytest.mark.parametrize("weighted", [False, True])
def test_sample_and_class_weights(n_classes, class_weight, weighted):
    X, y = _data(n_classes)
    if class_weight == "dict":
        class_weight = {c: 1.0 + c for c in range(n_classes)}
    sw = np.random.RandomState(0).uniform(0.2, 3.0, len(y)) if weighted else None
    params = dict(class_weight=class_weight, tol=1e-10, max_iter=1000)
    ours, theirs = _fit_both(params, X, y, sample_weight=sw)
    _close(ours, theirs, rtol=1e-6, atol=1e-8)
    if n_classes == 2:
        lib = dict(params, solver="liblinear", tol=1e-12, max_iter=10000)
        ours, theirs = _fit_both(lib, X, y, sample_weight=sw)
        _close(ours, theirs, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("sparse", [False, True])
def test_float32(n_classes, sparse):
    X, y = _data(n_classes, dtype=np.float32)
    if sparse:
        X = sp.csr_matrix(X)
    ours, theirs = _fit_both(dict(tol=1e-6, max_iter=1000), X, y)
    assert ours.coef_.dtype == theirs.coef_.dtype == np.float32
    assert ours.intercept_.dtype == theirs.intercept_.dtype == np.float32
    # scikit-learn's float32 fit evaluates its gradient from float32 products: float32
    # tolerances (rtol=5e-3, as its array API tests use for float32).
    _close(ours, theirs, rtol=5e-3, atol=1e-3)
    for method in ("decision_function", "predict_proba"):
        a, b = getattr(ours, method)(X), getattr(theirs, method)(X)
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=5e-3, atol=1e-3)
    # float64 data on a float32 model, and int data, give scikit-learn's result dtypes.
    for Xp in (X.astype(np.float64), np.rint(X.toarray() if sparse else X).astype(np.int64)):
        a, b = ours.decision_function(Xp), theirs.decision_function(Xp)
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=5e-3, atol=1e-3)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_warm_start(n_classes, fit_intercept):
    X, y = _data(n_classes)
    params = dict(warm_start=True, max_iter=3, fit_intercept=fit_intercept)
    ours, theirs = LogisticRegression(**params), SkLogisticRegression(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            ours.fit(X, y)
            theirs.fit(X, y)
            # Three iterations from the same start follow the same path.
            _close(ours, theirs, rtol=1e-6, atol=1e-8)
    # A warm start whose shape does not fit the new problem: scikit-learn's error.
    X2, y2 = _data(5 - n_classes)
    with pytest.raises(ValueError) as ours_err:
        ours.fit(X2, y2)
    with pytest.raises(ValueError) as theirs_err:
        theirs.fit(X2, y2)
    assert str(ours_err.value) == str(theirs_err.value)


@pytest.mark.parametrize("solver", SOLVERS + ["liblinear"])
def test_convergence_warning(solver):
    X, y = _data(2, n_samples=500)
    messages = []
    for cls in (LogisticRegression, SkLogisticRegression):
        with pytest.warns(ConvergenceWarning) as record:
            est = cls(solver=solver, max_iter=2, tol=1e-12).fit(X, y)
        messages.append([str(w.message) for w in record if w.category is ConvergenceWarning])
        assert est.n_iter_[0] == 2 or solver in ("sag", "saga", "newton-cholesky")
    if solver == "lbfgs":
        assert messages[0] == messages[1]
    elif solver != "newton-cg":  # newton-cg's message holds its own loss value
        assert messages[0][0].split(" after")[0] == messages[1][0].split(" after")[0]


def test_zero_max_iter():
    X, y = _data(2)
    with pytest.warns(ConvergenceWarning):
        ours = LogisticRegression(solver="newton-cg", max_iter=0).fit(X, y)
    assert ours.n_iter_[0] == 0 and not ours.coef_.any()


def test_no_warning_when_converged():
    X, y = _data(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LogisticRegression(max_iter=1000).fit(X, y)


def test_l1_falls_back_with_a_logged_reason(caplog):
    X, y = _data(2)
    params = dict(solver="liblinear", l1_ratio=1.0, C=0.5, random_state=0)
    with caplog.at_level(logging.INFO, logger="sklearn_rs"):
        ours, theirs = _fit_both(params, X, y)
    assert "falling back to scikit-learn" in caplog.text and "'l1'" in caplog.text
    np.testing.assert_array_equal(ours.coef_, theirs.coef_)
    # The fitted model still predicts in Rust.
    np.testing.assert_allclose(ours.decision_function(X), theirs.decision_function(X),
                               rtol=1e-12)


def test_string_labels_and_class_order():
    X, y = _data(3)
    labels = np.array(["b", "c", "a"])[y]
    ours, theirs = _fit_both(dict(tol=1e-10), X, labels)
    _close(ours, theirs, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def _error(cls, params, X, y, sample_weight=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as info:
            cls(**params).fit(X, y, sample_weight=sample_weight)
    return type(info.value), str(info.value)


@pytest.mark.parametrize(
    "params, data",
    [
        ({}, "one_class"),
        ({"solver": "liblinear"}, "one_class"),
        ({"solver": "liblinear"}, "three_classes"),
        ({"solver": "liblinear", "intercept_scaling": 0.0}, "two_classes"),
        ({"solver": "lbfgs", "l1_ratio": 1.0}, "two_classes"),
        ({"solver": "newton-cg", "dual": True}, "two_classes"),
        ({"solver": "liblinear", "C": np.inf}, "two_classes"),
        ({}, "bad_weights"),
        ({}, "continuous_y"),
        # X's finiteness is checked by the first evaluation in Rust: scikit-learn's error
        # still comes first.
        ({}, "nan"),
        ({"warm_start": True}, "inf_csr"),
        ({"solver": "liblinear"}, "nan"),
        ({"solver": "liblinear", "max_iter": 0}, "nan"),
        ({"solver": "newton-cg", "max_iter": 0}, "nan"),
        ({}, "nan_one_class"),
    ],
)
def test_errors_match(params, data):
    X, y = _data(3)
    sw = None
    if data == "one_class":
        y = np.zeros_like(y)
    elif data == "two_classes":
        y = y % 2
    elif data == "bad_weights":
        sw = np.ones(len(y) - 1)
    elif data == "continuous_y":
        y = y + 0.5 * np.arange(len(y))
    elif data == "nan":
        X[3, 2] = np.nan
    elif data == "inf_csr":
        X[5, 1] = np.inf
        X = sp.csr_matrix(X)
    elif data == "nan_one_class":
        X[0, 0] = np.nan
        y = np.zeros_like(y)
    assert _error(LogisticRegression, params, X, y, sw) == _error(
        SkLogisticRegression, params, X, y, sw
    )


def test_liblinear_huge_values_error():
    X, y = _data(2)
    X[0, 0] = 1e31
    ours = _error(LogisticRegression, {"solver": "liblinear"}, X, y)
    theirs = _error(SkLogisticRegression, {"solver": "liblinear"}, X, y)
    assert ours == theirs and re.search("1e30", ours[1])


def test_threads_give_identical_bits():
    from threadpoolctl import threadpool_limits

    X, y = _data(4, n_samples=30000, n_features=20)
    results = []
    for n in (1, 2):
        with threadpool_limits(n):
            est = LogisticRegression(max_iter=200).fit(X, y)
            results.append((est.coef_.copy(), est.intercept_.copy(), est.predict_proba(X)))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
