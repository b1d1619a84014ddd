"""Principal component analysis with Rust numerics, a drop-in for ``sklearn.decomposition.PCA``.

The estimator subclasses scikit-learn's ``PCA``: parameter validation, the choice of solver
(``_fit_svd_solver``, with scikit-learn's ``auto`` policy), error messages, ``set_output``,
feature names and ``isinstance`` stay scikit-learn's own. Every numerical step runs in Rust
(``sklearn_rs._core.pca_*``, on the kernels crate's faer-based linear algebra): centring, the
SVD / covariance eigendecomposition / randomized SVD, the sign convention, the number of
components (fraction of variance, Minka's MLE), the noise variance, ``transform``,
``inverse_transform``, ``get_covariance``, ``get_precision`` and ``score_samples``.

What differs by design:
- ``svd_solver="arpack"`` computes the leading singular triplets exactly (no ARPACK
  iterations; the subspace ARPACK converges to). The random starting vector is still drawn, so
  a shared ``RandomState`` advances as with scikit-learn. Sparse input is factorised through
  its covariance; with more than ``MAX_SPARSE_FEATURES`` features it falls back (logged) to
  scikit-learn's ARPACK iterations.
- The data is never centred in place: with ``copy=False`` scikit-learn's full and randomized
  solvers overwrite X with its centred values; X is left untouched here.
- ``fit_transform`` of the full solvers returns the projection of the training data, which
  equals scikit-learn's ``U * S`` (C-ordered rather than Fortran-ordered).
"""

from math import sqrt

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.decomposition import PCA as _SklearnPCA
from sklearn.utils import check_random_state
from sklearn.utils._arpack import _init_arpack_v0
from sklearn.utils._array_api import get_namespace
from sklearn.utils.validation import _assert_all_finite, check_is_fitted, validate_data

from sklearn_rs._base import RustEstimatorMixin, samples_view
from sklearn_rs._threads import _core


def _randomized_settings(n_samples, n_features, n_components, n_oversamples, iterated_power,
                         power_iteration_normalizer, random_state):
    """What ``_randomized_svd`` and ``_randomized_range_finder`` resolve before computing, and
    the Gaussian test matrix they draw (the same values from the same ``RandomState``)."""
    n_random = n_components + n_oversamples
    n_iter = iterated_power
    if n_iter == "auto":
        n_iter = 7 if n_components < 0.1 * min(n_samples, n_features) else 4
    transpose = n_samples < n_features
    columns = n_samples if transpose else n_features
    normalizer = power_iteration_normalizer
    if normalizer == "auto":
        normalizer = "none" if n_iter <= 2 else "LU"
    test_matrix = random_state.normal(size=(columns, n_random))
    return dict(
        n_iter=int(n_iter),
        normalizer=normalizer,
        transpose=bool(transpose),
        test_matrix=np.ascontiguousarray(test_matrix, dtype=np.float64).ravel(),
        n_random=int(n_random),
    )


#: Sparse input is factorised through its (n_features, n_features) covariance; above this
#: many features that matrix is too large and scikit-learn's ARPACK iterations are used.
MAX_SPARSE_FEATURES = 8192


def pca_fallback(params, X):
    """Why a PCA call runs scikit-learn's code (the patch registry's fallback hook)."""
    if X is not None and get_namespace(X)[1]:
        return "array API inputs (array_api_dispatch=True) are computed by scikit-learn"
    if X is not None and sp.issparse(X) and X.ndim == 2 and X.shape[1] > MAX_SPARSE_FEATURES:
        return (
            f"sparse input with more than {MAX_SPARSE_FEATURES} features: the exact solver "
            "forms a (n_features, n_features) covariance; scikit-learn's ARPACK solver is used"
        )
    return None


class PCA(RustEstimatorMixin, _SklearnPCA):
    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        if self._fallback_reason(X):
            return self._run_sklearn("fit", X, y)
        self._fit(X, want_projected=False)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        if self._fallback_reason(X):
            return self._run_sklearn("fit_transform", X, y)
        return self._fit(X, want_projected=True)

    def _fit(self, X, want_projected=False):
        """scikit-learn's ``_fit`` (validation and solver choice), then the solver in Rust.
        Returns ``fit_transform``'s result when ``want_projected``."""
        if sp.issparse(X) and self.svd_solver not in ["auto", "arpack", "covariance_eigh"]:
            raise TypeError(
                'PCA only support sparse inputs with the "arpack" and'
                f' "covariance_eigh" solvers, while "{self.svd_solver}" was passed. See'
                " TruncatedSVD for a possible alternative."
            )
        # Finiteness is checked by the first pass in Rust (scikit-learn's separate check costs
        # a pass over X); scikit-learn's error is raised from _check_finite when it fails.
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            force_writeable=True,
            accept_sparse=("csr", "csc"),
            ensure_2d=True,
            copy=False,
            ensure_all_finite=False,
        )
        try:
            return self._fit_validated(X, want_projected)
        except ValueError:
            # scikit-learn reports NaN or infinity before any other problem of the call.
            self._check_finite(X)
            raise

    def _check_finite(self, X):
        _assert_all_finite(X.data if sp.issparse(X) else X, input_name="X",
                           estimator_name=type(self).__name__)

    def _fit_validated(self, X, want_projected):
        self._fit_svd_solver = self.svd_solver
        if self._fit_svd_solver == "auto" and sp.issparse(X):
            self._fit_svd_solver = "arpack"

        if self.n_components is None:
            if self._fit_svd_solver != "arpack":
                n_components = min(X.shape)
            else:
                n_components = min(X.shape) - 1
        else:
            n_components = self.n_components

        if self._fit_svd_solver == "auto":
            if X.shape[1] <= 1_000 and X.shape[0] >= 10 * X.shape[1]:
                self._fit_svd_solver = "covariance_eigh"
            elif max(X.shape) <= 500 or n_components == "mle":
                self._fit_svd_solver = "full"
            elif 1 <= n_components < 0.8 * min(X.shape):
                self._fit_svd_solver = "randomized"
            else:
                self._fit_svd_solver = "full"

        if self._fit_svd_solver in ("full", "covariance_eigh"):
            self._check_full_n_components(X, n_components)
            extra = {}
        else:
            extra = self._check_truncated_n_components(X, n_components)

        if n_components == "mle":
            spec = ("mle", 0.0)
        elif self._fit_svd_solver in ("full", "covariance_eigh") and 0 < n_components < 1.0:
            spec = ("fraction", float(n_components))
        else:
            spec = ("count", float(int(n_components)))

        if sp.issparse(X):
            X = X.tocsr()
        fit = _core.pca_fit(
            samples_view(X) if sp.issparse(X) else np.ascontiguousarray(X),
            self._fit_svd_solver,
            spec,
            bool(want_projected),
            bool(self.whiten),
            self._rs_n_threads(),
            **extra,
        )
        self._set_fitted(fit, X.dtype, X.shape[0])
        return fit["projected"]

    def _set_fitted(self, fit, dtype, n_samples):
        """The fitted attributes from a Rust fit's result (``pca_fit`` / ``pca_fit_moments``)."""
        self.mean_ = fit["mean"]
        self.components_ = fit["components"]
        self.n_components_ = int(fit["n_components"])
        self.explained_variance_ = fit["explained_variance"]
        self.explained_variance_ratio_ = fit["explained_variance_ratio"]
        self.singular_values_ = fit["singular_values"]
        noise = fit["noise_variance"]
        self.noise_variance_ = 0.0 if noise is None else dtype.type(noise[0])
        self.n_samples_ = n_samples

    def _check_full_n_components(self, X, n_components):
        n_samples, n_features = X.shape
        if n_components == "mle":
            if n_samples < n_features:
                raise ValueError(
                    "n_components='mle' is only supported if n_samples >= n_features"
                )
        elif not 0 <= n_components <= min(n_samples, n_features):
            raise ValueError(
                f"n_components={n_components} must be between 0 and "
                f"min(n_samples, n_features)={min(n_samples, n_features)} with "
                f"svd_solver={self._fit_svd_solver!r}"
            )

    def _check_truncated_n_components(self, X, n_components):
        """scikit-learn's checks of ``_fit_truncated`` and its random draws; returns the
        randomized solver's settings for Rust."""
        n_samples, n_features = X.shape
        svd_solver = self._fit_svd_solver
        if isinstance(n_components, str):
            raise ValueError(
                "n_components=%r cannot be a string with svd_solver='%s'"
                % (n_components, svd_solver)
            )
        elif not 1 <= n_components <= min(n_samples, n_features):
            raise ValueError(
                "n_components=%r must be between 1 and "
                "min(n_samples, n_features)=%r with "
                "svd_solver='%s'" % (n_components, min(n_samples, n_features), svd_solver)
            )
        elif svd_solver == "arpack" and n_components == min(n_samples, n_features):
            raise ValueError(
                "n_components=%r must be strictly less than "
                "min(n_samples, n_features)=%r with "
                "svd_solver='%s'" % (n_components, min(n_samples, n_features), svd_solver)
            )
        random_state = check_random_state(self.random_state)
        if svd_solver == "arpack":
            # ARPACK's starting vector: drawn so that a shared RandomState advances as with
            # scikit-learn; the exact solve does not need it.
            _init_arpack_v0(min(X.shape), random_state)
            return {}
        return _randomized_settings(
            n_samples, n_features, int(n_components), self.n_oversamples,
            self.iterated_power, self.power_iteration_normalizer, random_state,
        )

    # ------------------------------------------------------------------ fitted model
    def _whiten_by(self):
        return self.explained_variance_ if self.whiten else None

    def transform(self, X):
        if self._fallback_reason(X):
            return self._run_sklearn("transform", X)
        check_is_fitted(self)
        # Dense X is checked for NaN and infinity by the projection pass in Rust (scikit-learn's
        # check is a pass of its own); scikit-learn's error is raised when it fails.
        X = validate_data(
            self, X, dtype=[np.float64, np.float32], accept_sparse=("csr", "csc"), reset=False,
            ensure_all_finite=sp.issparse(X),
        )
        try:
            return self._transform(X, xp=np, x_is_centered=False)
        except ValueError:
            self._check_finite(X)
            raise

    def _transform(self, X, xp=np, x_is_centered=False):
        dtype = X.dtype
        mean = np.zeros_like(self.mean_, dtype=dtype) if x_is_centered else self.mean_
        whiten_by = self._whiten_by()
        if sp.issparse(X):
            samples = samples_view(X.tocsr())
        else:
            samples = np.ascontiguousarray(X)
        return _core.pca_transform(
            samples,
            np.ascontiguousarray(mean, dtype=dtype),
            np.ascontiguousarray(self.components_, dtype=dtype).ravel(),
            None if whiten_by is None else np.ascontiguousarray(whiten_by, dtype=dtype),
            self._rs_n_threads(),
        )

    def inverse_transform(self, X):
        if self._fallback_reason(X):
            return self._run_sklearn("inverse_transform", X)
        check_is_fitted(self)
        dtype = self.components_.dtype
        X = np.ascontiguousarray(np.asarray(X), dtype=dtype)
        if X.ndim == 1:
            # scikit-learn's matrix product accepts one projected sample as a vector.
            return self.inverse_transform(X[None, :])[0]
        if X.shape[1] != self.components_.shape[0]:
            raise ValueError(
                f"matmul: Input operand 1 has a mismatch in its core dimension 0, with "
                f"gufunc signature (n?,k),(k,m?)->(n?,m?) (size {self.components_.shape[0]} "
                f"is different from {X.shape[1]})"
            )
        whiten_by = self._whiten_by()
        return _core.pca_inverse_transform(
            X,
            np.ascontiguousarray(self.mean_, dtype=dtype),
            np.ascontiguousarray(self.components_).ravel(),
            None if whiten_by is None else np.ascontiguousarray(whiten_by, dtype=dtype),
            self._rs_n_threads(),
        )

    def _model(self):
        dtype = self.components_.dtype
        return (
            np.ascontiguousarray(self.components_).ravel(),
            np.ascontiguousarray(self.explained_variance_, dtype=dtype),
            float(self.noise_variance_),
            bool(self.whiten),
            self.components_.shape[1],
        )

    def get_covariance(self):
        return _core.pca_covariance(*self._model())

    def get_precision(self):
        return _core.pca_precision(*self._model())

    def score_samples(self, X):
        if self._fallback_reason(X):
            return self._run_sklearn("score_samples", X)
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        dtype = X.dtype
        precision = np.ascontiguousarray(self.get_precision(), dtype=dtype)
        return _core.pca_score_samples(
            np.ascontiguousarray(X),
            np.ascontiguousarray(self.mean_, dtype=dtype),
            precision,
            self._rs_n_threads(),
        )
