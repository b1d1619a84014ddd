"""Ordinary least squares with Rust numerics, a drop-in for ``sklearn.linear_model.
LinearRegression``.

The estimator subclasses scikit-learn's: parameter validation, input validation, feature
names and errors are scikit-learn's own. The fit runs in Rust (``sklearn_rs._core.
linear_regression_fit``): the weighted centring, then for dense X the minimum-norm least-squares
solution with scipy's ``lstsq`` cutoff (``cond=tol``; ``rank_`` and ``singular_`` as LAPACK's
``gelsd`` reports them), for sparse X scipy's LSQR on the implicitly centred operator, and
with ``positive=True`` Lawson–Hanson NNLS (``scipy.optimize.nnls``'s algorithm). ``predict``
is ``X coef_^T + intercept_`` in Rust.

What differs by design: X is never centred in place (``copy_X=False`` leaves it untouched);
well-conditioned float64 problems are solved from the Gram matrix of one pass over X, which
agrees with ``gelsd`` to rounding (see ``kernels/src/linear``).
"""

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.linear_model import LinearRegression as _SklearnLinearRegression
from sklearn.utils.validation import _check_sample_weight, validate_data

from sklearn_rs._linear_common import (
    LinearModelMixin,
    array_api_fallback,
    check_weight_sum,
    defer_finite_check,
    fit_checking_finite,
    native_samples,
    native_targets,
)
from sklearn_rs._threads import _core


def linear_regression_fallback(params, X):
    """Why a LinearRegression call runs scikit-learn's code: array API inputs, and float16
    data (which scikit-learn keeps as float16)."""
    reason = array_api_fallback(X)
    if reason:
        return reason
    if getattr(X, "dtype", None) == np.float16:
        return "float16 data (kept as float16 by scikit-learn; Rust computes float32/float64)"
    return None


class LinearRegression(LinearModelMixin, _SklearnLinearRegression):
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        if self._fallback_reason(X):
            return self._run_sklearn("fit", X, y, sample_weight=sample_weight)
        accept_sparse = False if self.positive else ["csr", "csc", "coo"]
        X, y = validate_data(
            self, X, y, accept_sparse=accept_sparse, y_numeric=True, multi_output=True,
            ensure_all_finite=not defer_finite_check(X),
        )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
        # _preprocess_data's conversion: integer data becomes float64.
        if X.dtype.type not in (np.float32, np.float64):
            X = X.astype(np.float64)
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(sample_weight, dtype=X.dtype)
        if self.fit_intercept:
            check_weight_sum(sample_weight)
        targets = native_targets(y, X.dtype)
        fit = fit_checking_finite(self, X, lambda: _core.linear_regression_fit(
            native_samples(X),
            targets,
            sample_weight,
            bool(self.fit_intercept),
            float(self.tol),
            bool(self.positive),
            self._rs_n_threads(),
        ))
        coef = fit["coef"]
        if (self.positive or sp.issparse(X)) and not self.fit_intercept:
            # scipy's nnls and lsqr return float64; only the intercept step casts back.
            coef = coef.astype(np.float64)
        one_dimensional = np.ndim(y) == 1
        self.coef_ = coef.ravel() if one_dimensional else coef
        if fit["rank"] is not None:
            self.rank_ = int(fit["rank"])
            self.singular_ = fit["singular"]
        if self.fit_intercept:
            self.intercept_ = fit["intercept"][0] if one_dimensional else fit["intercept"]
        else:
            self.intercept_ = 0.0
        return self
