"""What the Rust-backed linear models share: the decision function ``X coef_^T + intercept_``
computed in Rust, the inputs of a fit as the native side takes them, and the fallback policy
for inputs the Rust kernels do not take.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils._array_api import _is_numpy_namespace, get_namespace
from sklearn.utils.validation import _assert_all_finite, check_is_fitted, validate_data

from sklearn_rs._base import RustEstimatorMixin, samples_view
from sklearn_rs._threads import _core

_FLOATS = (np.float32, np.float64)


def array_api_fallback(X):
    """The fallback reason for inputs of an array API namespace other than NumPy."""
    if X is None or sp.issparse(X):
        return None
    try:
        xp, _ = get_namespace(X)
    except Exception:  # scikit-learn's own validation raises its error
        return None
    if not _is_numpy_namespace(xp):
        return f"array API input ({xp.__name__}); the Rust kernels take NumPy arrays"
    return None


def native_samples(X):
    """The view of validated float samples handed to Rust (CSR for any sparse format)."""
    if sp.issparse(X):
        return samples_view(X.tocsr())
    return np.ascontiguousarray(X)


def native_targets(y, dtype):
    """Targets as a C-contiguous ``(n_samples, n_targets)`` array of X's dtype."""
    y = np.asarray(y, dtype=dtype)
    return np.ascontiguousarray(y.reshape(-1, 1) if y.ndim == 1 else y)


def defer_finite_check(X):
    """Whether validation may leave the finiteness check of X to the kernels: for a float
    NumPy array, which validation passes through without a copy. Other inputs are converted
    (a copy), and their check, as cheap, keeps scikit-learn's order of errors."""
    return isinstance(X, np.ndarray) and X.dtype.type in _FLOATS


def check_finite(estimator, X):
    """scikit-learn's finiteness check of validated X, with its message."""
    _assert_all_finite(X.data if sp.issparse(X) else X, input_name="X",
                       estimator_name=type(estimator).__name__)


def fit_checking_finite(estimator, X, native_fit):
    """Runs ``native_fit()``, with X validated without scikit-learn's separate finiteness pass
    (a read of all of X): the kernels report NaN or infinity in dense X, and non-finite
    coefficients (sparse X, iterative solvers) make the check run; either way scikit-learn's
    error is raised when X is not finite."""
    try:
        fit = native_fit()
    except ValueError:
        check_finite(estimator, X)
        raise
    if not np.isfinite(fit["coef"]).all():
        check_finite(estimator, X)
    return fit


def check_weight_sum(sample_weight):
    """``np.average``'s error, which scikit-learn's centring raises for weights summing to 0."""
    if sample_weight is not None and np.sum(sample_weight) == 0:
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")


class LinearModelMixin(RustEstimatorMixin):
    """``_decision_function`` (and so ``predict``) of scikit-learn's ``LinearModel`` in Rust."""

    def _decision_function(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr", "csc", "coo"], reset=False)
        coef = np.asarray(self.coef_)
        intercept = self.intercept_
        # NumPy's promotion of ``X @ coef_ + intercept_`` (a Python float intercept is weak).
        dtype = np.result_type(X.dtype, coef.dtype, intercept)
        if dtype.type not in _FLOATS or coef.ndim not in (1, 2):
            return super()._decision_function(X)
        X = X.astype(dtype, copy=False)
        coef_rows = np.ascontiguousarray(np.atleast_2d(coef), dtype=dtype)
        n_targets = coef_rows.shape[0]
        intercepts = np.ascontiguousarray(
            np.broadcast_to(np.asarray(intercept, dtype=dtype), (n_targets,))
        )
        out = _core.linear_predict(
            native_samples(X), coef_rows, intercepts, self._rs_n_threads()
        )
        return out.ravel() if coef.ndim == 1 else out
