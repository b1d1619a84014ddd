"""K-means clustering with Rust kernels, a drop-in for ``sklearn.cluster.KMeans``.

The estimator subclasses scikit-learn's ``KMeans`` so that parameter validation
(``_parameter_constraints``), warnings, errors, ``set_output``, feature names and
``isinstance`` checks are scikit-learn's own; every numerical step (initialisation, Lloyd and
Elkan iterations, inertia, assignment, distances, variance scaling of ``tol``) runs in Rust.
What the k-means family shares lives in ``_kmeans_common.KMeansMixin``; this module holds only
what is KMeans' own: ``fit`` (the ``n_init`` loop of full Lloyd or Elkan runs) and the module
functions ``k_means`` and ``kmeans_plusplus``.
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
    validate_data,
)

from sklearn_rs._base import samples_view
from sklearn_rs._kmeans_common import KMeansMixin, check_probabilities, print_events, rust_init
from sklearn_rs._threads import _core, effective_n_threads


class KMeans(KMeansMixin, _SklearnKMeans):
    def _check_params_vs_input(self, X):
        super()._check_params_vs_input(X, default_n_init=10)
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
        if self._fallback_reason(X):
            return self._run_sklearn("fit", X, y, sample_weight=sample_weight)
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
        self._n_threads = self._rs_n_threads()

        init = self.init
        if _is_arraylike_not_scalar(init):
            init = check_array(init, dtype=X.dtype, copy=True, order="C")
            self._validate_center_shape(X, init)

        samples = self._samples(X)
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
                print_events(events, self._algorithm)
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
    check_probabilities(sample_weight)
    if X.shape[0] < n_clusters:
        raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={n_clusters}.")
    if x_squared_norms is not None:
        x_squared_norms = check_array(x_squared_norms, dtype=X.dtype, ensure_2d=False)
        if x_squared_norms.shape[0] != X.shape[0]:
            raise ValueError(
                f"The length of x_squared_norms {x_squared_norms.shape[0]} should "
                f"be equal to the length of n_samples {X.shape[0]}."
            )
    centers, indices = rust_init(
        samples_view(X), sample_weight, n_clusters, False, check_random_state(random_state),
        effective_n_threads(), n_local_trials,
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
