"""K-means clustering with Rust kernels, a drop-in for ``sklearn.cluster.KMeans``.

The estimator subclasses scikit-learn's ``KMeans`` so that parameter validation
(``_parameter_constraints``), warnings, errors, ``set_output``, feature names and
``isinstance`` checks are scikit-learn's own; every numerical step (initialisation, Lloyd and
Elkan iterations, inertia, assignment, distances, variance scaling of ``tol``) runs in Rust.
"""

import warnings
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.cluster import KMeans as _SklearnKMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import (
    _check_sample_weight,
    _is_arraylike_not_scalar,
    check_is_fitted,
    validate_data,
)

from sklearn_rs._threads import _core, effective_n_threads

_INT32_MAX = np.iinfo(np.int32).max


def _samples(X):
    """The native-side view of validated samples: the C-contiguous array itself (no copy), or
    a CSR matrix as ``(data, indices, indptr, n_samples, n_features)``."""
    if sp.issparse(X):
        X = X.tocsr()
        if not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
        return (
            np.ascontiguousarray(X.data),
            np.ascontiguousarray(X.indices, dtype=np.int32),
            np.ascontiguousarray(X.indptr, dtype=np.int64),
            X.shape[0],
            X.shape[1],
        )
    return X


def _tolerance(X, samples, tol, n_threads):
    """``tol`` scaled by the mean variance of the features, as scikit-learn does."""
    if tol == 0:
        return 0
    return _core.mean_variance(samples, np.empty(0, dtype=X.dtype), n_threads) * tol


def _init_centers(X, samples, n_clusters, init, random_state, sample_weight, n_threads,
                  n_local_trials=None):
    """Initial centers for one run: k-means++, weighted random sampling, an array or a
    callable (the two last as scikit-learn handles them)."""
    if isinstance(init, str):
        _check_probabilities(sample_weight)
        seed = int(random_state.randint(_INT32_MAX))
        centers, _ = _core.init_centers(
            samples, sample_weight, n_clusters, n_local_trials, init == "random", seed, n_threads
        )
        return centers
    return init


def _check_probabilities(sample_weight):
    # scikit-learn samples initial centers with numpy's choice(p=sample_weight / total), which
    # rejects negative weights with this message.
    if np.any(sample_weight < 0):
        raise ValueError("probabilities are not non-negative")


class KMeans(_SklearnKMeans):
    __doc__ = _SklearnKMeans.__doc__

    def _init_centroids(self, X, x_squared_norms, init, random_state, sample_weight,
                        init_size=None, n_centroids=None):
        n_clusters = self.n_clusters if n_centroids is None else n_centroids
        if callable(init):
            centers = init(X, n_clusters, random_state=random_state)
            centers = check_array(centers, dtype=X.dtype, copy=False, order="C")
            self._validate_center_shape(X, centers, n_centroids=n_clusters)
            if sp.issparse(centers):
                centers = centers.toarray()
            return centers
        return _init_centers(
            X, _samples(X), n_clusters, init, random_state, sample_weight, self._n_threads
        )

    def _check_params_vs_input(self, X, default_n_init=10):
        # scikit-learn's checks and messages; the tol scaling is computed in Rust without the
        # (n_samples, n_features) temporary that np.var makes.
        if X.shape[0] < self.n_clusters:
            raise ValueError(
                f"n_samples={X.shape[0]} should be >= n_clusters={self.n_clusters}."
            )
        self._tol = _tolerance(X, _samples(X), self.tol, effective_n_threads())
        if self.n_init != "auto":
            self._n_init = self.n_init
        elif isinstance(self.init, str) and self.init == "k-means++":
            self._n_init = 1
        elif isinstance(self.init, str) or callable(self.init):
            self._n_init = default_n_init
        else:  # array-like
            self._n_init = 1
        if _is_arraylike_not_scalar(self.init) and self._n_init != 1:
            warnings.warn(
                "Explicit initial center position passed: performing only"
                f" one init in {self.__class__.__name__} instead of "
                f"n_init={self._n_init}.",
                RuntimeWarning,
                stacklevel=2,
            )
            self._n_init = 1
        self._algorithm = self.algorithm
        if self._algorithm == "elkan" and self.n_clusters == 1:
            warnings.warn(
                "algorithm='elkan' doesn't make sense for a single "
                "cluster. Using 'lloyd' instead.",
                RuntimeWarning,
            )
            self._algorithm = "lloyd"

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        # Unlike scikit-learn, X is never centered in place, so no copy is needed.
        X = validate_data(
            self,
            X,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            order="C",
            copy=False,
            accept_large_sparse=False,
        )
        self._check_params_vs_input(X)
        random_state = check_random_state(self.random_state)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        self._n_threads = effective_n_threads()

        init = self.init
        if _is_arraylike_not_scalar(init):
            init = check_array(init, dtype=X.dtype, copy=True, order="C")
            self._validate_center_shape(X, init)

        samples = _samples(X)
        best = None
        for _ in range(self._n_init):
            centers_init = self._init_centroids(
                X, x_squared_norms=None, init=init, random_state=random_state,
                sample_weight=sample_weight,
            )
            if self.verbose:
                print("Initialization complete")
            centers_init = np.ascontiguousarray(centers_init, dtype=X.dtype)
            labels, inertia, centers, n_iter, events = _core.kmeans_single(
                samples, sample_weight, centers_init.ravel(), self._algorithm,
                int(self.max_iter), float(self._tol), bool(self.verbose), self._n_threads,
            )
            if self.verbose:
                _print_events(events, self._algorithm)
            # A run replaces the best one only if it is better and not the same partition
            # (rounding can make a relabelled copy look slightly better).
            if best is None or (
                inertia < best[1]
                and not _core.is_same_clustering(labels, best[0], self.n_clusters)
            ):
                best = (labels, inertia, centers, n_iter)

        best_labels, best_inertia, best_centers, best_n_iter = best
        distinct_clusters = len(np.unique(best_labels))
        if distinct_clusters < self.n_clusters:
            warnings.warn(
                "Number of distinct clusters ({}) found smaller than "
                "n_clusters ({}). Possibly due to duplicate points "
                "in X.".format(distinct_clusters, self.n_clusters),
                ConvergenceWarning,
                stacklevel=2,
            )
        self.cluster_centers_ = best_centers
        self._n_features_out = self.cluster_centers_.shape[0]
        self.labels_ = best_labels
        self.inertia_ = float(best_inertia)
        self.n_iter_ = best_n_iter
        return self

    def _labels_inertia(self, X, sample_weight, with_inertia=True):
        centers = np.ascontiguousarray(self.cluster_centers_, dtype=X.dtype)
        return _core.labels_inertia(
            _samples(X), sample_weight, centers.ravel(), with_inertia, effective_n_threads()
        )

    def predict(self, X):
        check_is_fitted(self)
        X = self._check_test_data(X)
        labels, _ = self._labels_inertia(
            X, np.ones(X.shape[0], dtype=X.dtype), with_inertia=False
        )
        return labels

    def _transform(self, X):
        # fit_transform passes X as the user gave it (scikit-learn's own _transform accepts
        # anything euclidean_distances does); this is a no-op for already validated input.
        X = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32], order="C",
                        accept_large_sparse=False)
        dtype = np.result_type(X.dtype, self.cluster_centers_.dtype)
        X = X.astype(dtype, copy=False)
        centers = np.ascontiguousarray(self.cluster_centers_, dtype=dtype)
        return _core.transform(_samples(X), centers.ravel(), effective_n_threads())

    def score(self, X, y=None, sample_weight=None):
        check_is_fitted(self)
        X = self._check_test_data(X)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        _, inertia = self._labels_inertia(X, sample_weight)
        return -inertia


def _print_events(events, algorithm):
    """scikit-learn's verbose output, from the events the Rust run recorded."""
    end = "." if algorithm == "lloyd" else ""
    for kind, iteration, value, tol in events:
        if kind == "iteration":
            print(f"Iteration {iteration}, inertia {value}{end}")
        elif kind == "strict":
            print(f"Converged at iteration {iteration}: strict convergence.")
        else:
            print(
                f"Converged at iteration {iteration}: center shift {value} "
                f"within tolerance {tol}."
            )


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "sample_weight": ["array-like", None],
        "x_squared_norms": ["array-like", None],
        "random_state": ["random_state"],
        "n_local_trials": [Interval(Integral, 1, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
def kmeans_plusplus(X, n_clusters, *, sample_weight=None, x_squared_norms=None,
                    random_state=None, n_local_trials=None):
    """Init n_clusters seeds according to k-means++ (Rust implementation of
    ``sklearn.cluster.kmeans_plusplus``, same signature and return values)."""
    X_given = X
    X = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32], order="C")
    sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
    _check_probabilities(sample_weight)
    if X.shape[0] < n_clusters:
        raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={n_clusters}.")
    if x_squared_norms is not None:
        x_squared_norms = check_array(x_squared_norms, dtype=X.dtype, ensure_2d=False)
        if x_squared_norms.shape[0] != X.shape[0]:
            raise ValueError(
                f"The length of x_squared_norms {x_squared_norms.shape[0]} should "
                f"be equal to the length of n_samples {X.shape[0]}."
            )
    random_state = check_random_state(random_state)
    seed = int(random_state.randint(_INT32_MAX))
    centers, indices = _core.init_centers(
        _samples(X), sample_weight, n_clusters, n_local_trials, False, seed,
        effective_n_threads(),
    )
    given_dtype = getattr(X_given, "dtype", None)
    if given_dtype is not None and given_dtype != X.dtype:
        # Like scikit-learn, return the chosen rows in the dtype X was given in.
        rows = X_given[indices]
        centers = rows.toarray() if sp.issparse(rows) else np.asarray(rows)
    return centers, indices


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "sample_weight": ["array-like", None],
        "return_n_iter": [bool],
    },
    prefer_skip_nested_validation=False,
)
def k_means(X, n_clusters, *, sample_weight=None, init="k-means++", n_init="auto",
            max_iter=300, verbose=False, tol=1e-4, random_state=None, copy_x=True,
            algorithm="lloyd", return_n_iter=False):
    """Perform K-means clustering (same signature and results as ``sklearn.cluster.k_means``)."""
    est = KMeans(
        n_clusters=n_clusters, init=init, n_init=n_init, max_iter=max_iter, verbose=verbose,
        tol=tol, random_state=random_state, copy_x=copy_x, algorithm=algorithm,
    ).fit(X, sample_weight=sample_weight)
    if return_n_iter:
        return est.cluster_centers_, est.labels_, est.inertia_, est.n_iter_
    return est.cluster_centers_, est.labels_, est.inertia_
