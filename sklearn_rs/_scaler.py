"""Standardisation with Rust kernels, a drop-in for ``sklearn.preprocessing.StandardScaler``.

The estimator subclasses scikit-learn's ``StandardScaler``: parameter validation, input
validation (``validate_data``), feature names, ``set_output``, callbacks, warnings and errors are
scikit-learn's own. The numerics run in Rust (``sklearn_rs._core.scaler_*``): the incremental
mean and variance of dense batches (``_incremental_mean_and_var``'s arithmetic, the same
summation order as NumPy's) and of CSR/CSC batches (``mean_variance_axis`` /
``incr_mean_variance_axis``), the scales with near-constant features set to 1, and
``transform`` / ``inverse_transform`` in place or into a new array.

``n_samples_seen_``, ``mean_``, ``var_`` and ``scale_`` take scikit-learn's types and shapes:
the bookkeeping below follows ``StandardScaler.partial_fit`` line by line.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.preprocessing import StandardScaler as _SklearnStandardScaler
from sklearn.utils._array_api import (
    _is_numpy_namespace,
    get_namespace,
    get_namespace_and_device,
    supported_float_dtypes,
)
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    validate_data,
)

from sklearn_rs._base import RustEstimatorMixin
from sklearn_rs._threads import _core

_CANNOT_CENTER = (
    "Cannot center sparse matrices: pass `with_mean=False` "
    "instead. See docstring for motivation and alternatives."
)
_CANNOT_UNCENTER = (
    "Cannot uncenter sparse matrices: pass `with_mean=False` "
    "instead See docstring for motivation and alternatives."
)


def scaler_fallback(params, X):
    """Why a StandardScaler call runs scikit-learn's code: inputs of an array API namespace
    other than NumPy, and float16 data (which scikit-learn keeps as float16)."""
    if X is None:
        return None
    if not sp.issparse(X):
        try:
            xp, _ = get_namespace(X)
        except Exception:  # scikit-learn's own validation raises its error
            return None
        if not _is_numpy_namespace(xp):
            return f"array API input ({xp.__name__}); the Rust kernels take NumPy arrays"
    if getattr(X, "dtype", None) == np.float16:
        return "float16 data (kept as float16 by scikit-learn; Rust computes float32/float64)"
    return None


def _dense_layout(X):
    """``(array, columns)``: the C-contiguous view handed to Rust and its layout, for a C- or
    F-contiguous ``X`` (an array with one feature counts as F-contiguous, as NumPy sums it
    pairwise); ``None`` for other strides."""
    if X.flags.f_contiguous:
        return X.T, True
    if X.flags.c_contiguous:
        return X, False
    return None


def _sparse_args(X):
    """``(data, indices, indptr, n_samples, n_features, by_rows)`` of a CSR/CSC batch, with
    indices and offsets of one integer type."""
    index_dtype = np.int64 if np.int64 in (X.indices.dtype, X.indptr.dtype) else np.int32
    return (
        np.ascontiguousarray(X.data),
        np.ascontiguousarray(X.indices, dtype=index_dtype),
        np.ascontiguousarray(X.indptr, dtype=index_dtype),
        X.shape[0],
        X.shape[1],
        X.format == "csr",
    )


def _is_new_array(X, X_given):
    """Whether validation made ``X`` a new array that shares no memory with the input."""
    if X is X_given:
        return False
    try:
        return not np.may_share_memory(X, X_given)
    except Exception:
        return False


def _per_feature(value, n_features, dtype=np.float64):
    """A scalar or per-feature vector as a contiguous vector of ``n_features`` values."""
    return np.ascontiguousarray(np.broadcast_to(np.asarray(value, dtype=dtype), (n_features,)))


class StandardScaler(RustEstimatorMixin, _SklearnStandardScaler):
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        if self._fallback_reason(X):
            return self._run_sklearn("partial_fit", X, y, sample_weight=sample_weight)
        xp, _, X_device = get_namespace_and_device(X)
        first_call = not hasattr(self, "n_samples_seen_")
        X_given = X
        X = validate_data(
            self,
            X,
            accept_sparse=("csr", "csc"),
            dtype=supported_float_dtypes(xp, X_device),
            ensure_all_finite="allow-nan",
            reset=first_call,
        )
        if self._fallback_reason(X):
            return self._run_sklearn("partial_fit", X_given, y, sample_weight=sample_weight)
        n_features = X.shape[1]

        callback_ctx = self._init_callback_context()
        callback_ctx.call_on_fit_task_begin(
            estimator=self, X=X, y=y, metadata={"sample_weight": sample_weight}
        )

        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)

        dtype = np.int64 if sample_weight is None else X.dtype
        if first_call:
            self.n_samples_seen_ = np.zeros(n_features, dtype=dtype)
        elif np.size(self.n_samples_seen_) == 1:
            self.n_samples_seen_ = np.repeat(self.n_samples_seen_, n_features)
            self.n_samples_seen_ = self.n_samples_seen_.astype(dtype, copy=False)

        n_threads = self._rs_n_threads()
        if sp.issparse(X):
            if self.with_mean:
                raise ValueError(_CANNOT_CENTER)
            self._partial_fit_sparse(X, sample_weight, dtype, n_threads)
        else:
            self._partial_fit_dense(X, sample_weight, n_threads)

        # For backward compatibility, n_samples_seen_ is a scalar when every feature saw the
        # same number of samples (no missing values).
        if np.max(self.n_samples_seen_) == np.min(self.n_samples_seen_):
            self.n_samples_seen_ = self.n_samples_seen_[0]

        if self.with_std:
            self.scale_ = _core.scaler_scale(
                np.ascontiguousarray(self.var_, dtype=np.float64),
                _per_feature(self.mean_, n_features),
                _per_feature(self.n_samples_seen_, n_features),
            )
        else:
            self.scale_ = None

        callback_ctx.call_on_fit_task_end(
            estimator=self,
            X=X,
            y=y,
            metadata={"sample_weight": sample_weight},
            reconstruction_attributes={},
        )
        return self

    def _partial_fit_sparse(self, X, sample_weight, dtype, n_threads):
        args = _sparse_args(X)
        if self.with_std:
            weights = (
                np.ones(X.shape[0], dtype=X.dtype) if sample_weight is None else sample_weight
            )
            if not hasattr(self, "scale_"):
                last = None
            else:  # incr_mean_variance_axis: the running statistics in X's dtype
                last = (
                    np.ascontiguousarray(self.mean_, dtype=X.dtype),
                    np.ascontiguousarray(self.var_, dtype=X.dtype),
                    _per_feature(self.n_samples_seen_, X.shape[1], X.dtype),
                )
            mean, var, n = _core.scaler_sparse_update(*args, weights, last)
            self.mean_ = mean.astype(np.float64, copy=False)
            self.var_ = var.astype(np.float64, copy=False)
            self.n_samples_seen_ = n
        else:
            self.mean_ = None
            self.var_ = None
            weights = _check_sample_weight(sample_weight, X)
            seen = _core.scaler_sparse_non_nan_weights(*args, weights)
            self.n_samples_seen_ += seen.astype(dtype)

    def _partial_fit_dense(self, X, sample_weight, n_threads):
        if not hasattr(self, "scale_"):
            self.mean_ = 0.0
            self.var_ = 0.0 if self.with_std else None
        layout = _dense_layout(X)
        if layout is None:
            # Other strides: NumPy runs its inner loop along the axis of smaller stride, so a
            # copy ordered the same way is summed in NumPy's order.
            if abs(X.strides[0]) < abs(X.strides[1]):
                layout = (np.asfortranarray(X).T, True)
            else:
                layout = (np.ascontiguousarray(X), False)
        data, columns = layout
        n_features = X.shape[1]
        if not self.with_mean and not self.with_std:
            self.mean_ = None
            self.var_ = None
            self.n_samples_seen_ += _core.scaler_non_nan_counts(data, columns, n_threads)
            return
        mean, var, count = _core.scaler_dense_update(
            data,
            columns,
            sample_weight,
            _per_feature(self.mean_, n_features),
            None if self.var_ is None else _per_feature(self.var_, n_features),
            _per_feature(self.n_samples_seen_, n_features),
            n_threads,
        )
        self.mean_, self.var_, self.n_samples_seen_ = mean, var, count

    def _scale_dense(self, X, copy, inverse, owned=False):
        """``transform`` / ``inverse_transform`` of validated dense ``X``: into a new array
        of ``X``'s layout (``copy``) or in place (also when ``owned``: validation already
        made ``X`` a new array)."""
        mean = np.asarray(self.mean_, dtype=X.dtype) if self.with_mean else None
        scale = np.asarray(self.scale_, dtype=X.dtype) if self.with_std else None
        if mean is not None:
            mean = _per_feature(mean, X.shape[1], X.dtype)
        if scale is not None:
            scale = _per_feature(scale, X.shape[1], X.dtype)
        n_threads = self._rs_n_threads()
        layout = _dense_layout(X)
        if copy and layout is not None and not owned:
            data, columns = layout
            out = _core.scaler_transform(data, columns, mean, scale, inverse, False, n_threads)
            return out.T if columns else out
        if layout is None:
            # Neither C nor F contiguous: scale a contiguous copy (NumPy's copy keeps the
            # axis order), then write it back when working in place.
            work = np.array(X, copy=True)
            data, columns = _dense_layout(work)
            _core.scaler_transform(data, columns, mean, scale, inverse, True, n_threads)
            if copy:
                return work
            X[...] = work
            return X
        data, columns = layout
        _core.scaler_transform(data, columns, mean, scale, inverse, True, n_threads)
        return X

    def _scale_sparse(self, X, inverse):
        if self.scale_ is not None:
            _core.scaler_sparse_scale_columns(
                X.data,
                _sparse_args(X)[1],
                np.ascontiguousarray(self.scale_, dtype=np.float64),
                not inverse,
                self._rs_n_threads(),
            )
        return X

    def transform(self, X, copy=None):
        if self._fallback_reason(X):
            return self._run_sklearn("transform", X, copy=copy)
        xp, _, X_device = get_namespace_and_device(X)
        check_is_fitted(self)

        copy = copy if copy is not None else self.copy
        dense_copy = copy and not sp.issparse(X)
        X_given = X
        # A dense copy is made by the Rust pass itself (one read, one write).
        X = validate_data(
            self,
            X,
            reset=False,
            accept_sparse="csr",
            copy=copy and not dense_copy,
            dtype=supported_float_dtypes(xp, X_device),
            force_writeable=not dense_copy,
            ensure_all_finite="allow-nan",
        )
        if self._fallback_reason(X):
            return self._run_sklearn("transform", X_given, copy=copy)
        if sp.issparse(X):
            if self.with_mean:
                raise ValueError(_CANNOT_CENTER)
            if not X.data.flags.writeable or not X.data.flags.c_contiguous:
                X = X.copy()
            return self._scale_sparse(X, inverse=False)
        return self._scale_dense(X, dense_copy, False, _is_new_array(X, X_given))

    def inverse_transform(self, X, copy=None):
        if self._fallback_reason(X):
            return self._run_sklearn("inverse_transform", X, copy=copy)
        xp, _, X_device = get_namespace_and_device(X)
        check_is_fitted(self)

        copy = copy if copy is not None else self.copy
        dense_copy = copy and not sp.issparse(X)
        X_given = X
        X = check_array(
            X,
            accept_sparse="csr",
            copy=copy and not dense_copy,
            dtype=supported_float_dtypes(xp, X_device),
            force_writeable=not dense_copy,
            ensure_all_finite="allow-nan",
        )
        if self._fallback_reason(X):
            return self._run_sklearn("inverse_transform", X_given, copy=copy)
        if X.shape[1] != self.n_features_in_:
            # inverse_transform does not check the number of features: scikit-learn's NumPy
            # broadcasting decides (an error, or one fitted feature applied to every column).
            return self._run_sklearn("inverse_transform", X_given, copy=copy)
        if sp.issparse(X):
            if self.with_mean:
                raise ValueError(_CANNOT_UNCENTER)
            if not X.data.flags.writeable or not X.data.flags.c_contiguous:
                X = X.copy()
            return self._scale_sparse(X, inverse=True)
        return self._scale_dense(X, dense_copy, True, _is_new_array(X, X_given))
