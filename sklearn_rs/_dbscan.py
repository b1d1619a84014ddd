"""DBSCAN with Rust numerics, a drop-in for ``sklearn.cluster.DBSCAN`` and ``dbscan``.

The estimator subclasses scikit-learn's: parameter validation, input validation, the checks,
warnings and errors of the ``NearestNeighbors`` search scikit-learn builds (metric, ``p``,
``metric_params``, ``algorithm``, sparse and precomputed input), feature names and
``isinstance`` are scikit-learn's own. The clustering runs in Rust
(``sklearn_rs._core.dbscan_fit``, ``kernels::dbscan``) without materialising neighbourhoods:
points are sorted into a grid of cells at least ``eps`` wide, core points are counted with an
early exit, joined by a concurrent union-find and labelled as scikit-learn's depth-first walk
labels them. A pair is "within eps" when its reduced distance is ``<=`` the reduced ``eps``
(``sum (a - b)^2 <= eps^2`` for euclidean), the test scikit-learn's KD and ball trees make,
so pairs at exactly ``eps`` agree. A precomputed matrix is walked row by row in scikit-learn's
order (``entry <= eps`` in the matrix's dtype).

A callable metric, a metric name not computed in Rust, or ``metric_params`` other than ``p``
and ``w`` run scikit-learn's code (logged).
"""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.cluster import DBSCAN as _SklearnDBSCAN
from sklearn.metrics import DistanceMetric
from sklearn.neighbors import NearestNeighbors, VALID_METRICS, VALID_METRICS_SPARSE
from sklearn.neighbors._base import _check_precomputed, sort_graph_by_row_values
from sklearn.utils._param_validation import validate_params
from sklearn.utils.validation import _check_sample_weight, validate_data

from sklearn_rs._base import RustEstimatorMixin, samples_view
from sklearn_rs._metrics import resolve_metric
from sklearn_rs._threads import _core, n_jobs_threads

def dbscan_fallback(params, X):
    """Why a DBSCAN call runs scikit-learn's code (the patch registry's fallback hook)."""
    try:
        resolved = resolve_metric(params.get("metric", "euclidean"), params.get("p"),
                                  params.get("metric_params"), sparse=sp.issparse(X))
    except ValueError:
        return None  # an invalid metric: fit raises scikit-learn's error at its turn
    return resolved if isinstance(resolved, str) else None


def _search_metric(nn, X):
    """The checks, warnings and errors of ``nn.fit(X)`` on validated ``X`` (which would also
    build the search structure we do not use); returns the effective ``(metric, params)``."""
    nn._validate_params()
    nn._check_algorithm_metric()
    params = {} if nn.metric_params is None else dict(nn.metric_params)
    effective_p = params.get("p", nn.p)
    if nn.metric == "minkowski":
        params["p"] = effective_p
    metric = nn.metric
    if metric == "minkowski":
        p = params.pop("p", 2)
        w = params.pop("w", None)
        if p == 1 and w is None:
            metric = "manhattan"
        elif p == 2 and w is None:
            metric = "euclidean"
        elif p == np.inf and w is None:
            metric = "chebyshev"
        else:
            params["p"] = p
            params["w"] = w

    if metric == "precomputed":
        if X.shape[0] != X.shape[1]:
            raise ValueError(
                "Precomputed matrix must be square."
                " Input is a {}x{} matrix.".format(X.shape[0], X.shape[1])
            )
    if sp.issparse(X):
        if nn.algorithm not in ("auto", "brute"):
            warnings.warn("cannot use tree with sparse input: using brute force")
        if metric not in VALID_METRICS_SPARSE["brute"]:
            raise ValueError(
                "Metric '%s' not valid for sparse input. "
                "Use sorted(sklearn.neighbors."
                "VALID_METRICS_SPARSE['brute']) "
                "to get valid options. "
                "Metric can also be a callable function." % (metric)
            )
        return metric, params

    method = nn.algorithm
    if method == "auto":
        if nn.metric == "precomputed" or X.shape[1] > 15 or nn.n_neighbors >= X.shape[0] // 2:
            method = "brute"
        elif metric == "minkowski" and params["p"] < 1:
            method = "brute"
        elif metric == "minkowski" and params.get("w") is not None:
            method = "ball_tree"
        elif metric in VALID_METRICS["kd_tree"]:
            method = "kd_tree"
        elif metric in VALID_METRICS["ball_tree"]:
            method = "ball_tree"
        else:
            method = "brute"
    if metric == "minkowski" and params["p"] < 1:
        if method == "brute":
            warnings.warn(
                "Mind that for 0 < p < 1, Minkowski metrics are not distance"
                " metrics. Continuing the execution with `algorithm='brute'`."
            )
        else:
            raise ValueError(
                f'algorithm="{method}" does not support 0 < p < 1 for '
                "the Minkowski metric. To resolve this problem either "
                'set p >= 1 or algorithm="brute".'
            )
    if method == "kd_tree" and metric == "minkowski" and params.get("w") is not None:
        raise ValueError(
            "algorithm='kd_tree' is not valid for "
            "metric='minkowski' with a weight parameter 'w': "
            "try algorithm='ball_tree' "
            "or algorithm='brute' instead."
        )
    if metric in ("minkowski", "p", "haversine"):
        # The metric's own checks (its weights, the dimension), raised as the search structure
        # raises them.
        DistanceMetric.get_metric(metric, **params)._validate_data(X)
    return metric, params


def _float_samples(X):
    """Validated samples as the kernels take them: float32/float64 (other dtypes as float64,
    the precision scikit-learn's trees and distance functions compute in)."""
    if sp.issparse(X):
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        return samples_view(X)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return np.ascontiguousarray(X)


class DBSCAN(RustEstimatorMixin, _SklearnDBSCAN):
    @_fit_context(
        # DBSCAN.metric is not validated yet
        prefer_skip_nested_validation=False
    )
    def fit(self, X, y=None, sample_weight=None):
        if self._fallback_reason(X):
            return self._run_sklearn("fit", X, y, sample_weight=sample_weight)
        X = validate_data(self, X, accept_sparse="csr")
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)

        precomputed = self.metric == "precomputed"
        if precomputed and sp.issparse(X):
            # As scikit-learn: every point is its own neighbour through an explicit diagonal.
            X = X.copy()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", sp.SparseEfficiencyWarning)
                X.setdiag(X.diagonal())
                X = sort_graph_by_row_values(X, warn_when_not_sorted=False)
        neighbors = NearestNeighbors(
            radius=self.eps,
            algorithm=self.algorithm,
            leaf_size=self.leaf_size,
            metric=self.metric,
            metric_params=self.metric_params,
            p=self.p,
            n_jobs=self.n_jobs,
        )
        search_input = _check_precomputed(X) if precomputed else X
        _search_metric(neighbors, search_input)
        spec = None if precomputed else resolve_metric(
            self.metric, self.p, self.metric_params, n_features=X.shape[1],
            sparse=sp.issparse(X))
        weights = (
            None if sample_weight is None
            else np.ascontiguousarray(sample_weight, dtype=np.float64)
        )
        labels, is_core = _core.dbscan_fit(
            _float_samples(search_input),
            float(self.eps),
            float(self.min_samples),
            weights,
            spec,
            n_jobs_threads(self.n_jobs),
        )
        self.core_sample_indices_ = np.flatnonzero(is_core)
        self.labels_ = labels.astype(np.intp, copy=False)
        if len(self.core_sample_indices_):
            self.components_ = X[self.core_sample_indices_].copy()
        else:
            self.components_ = np.empty((0, X.shape[1]))
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        self.fit(X, sample_weight=sample_weight)
        return self.labels_

    fit_predict.__doc__ = _SklearnDBSCAN.fit_predict.__doc__


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "sample_weight": ["array-like", None],
    },
    prefer_skip_nested_validation=False,
)
def dbscan(
    X,
    eps=0.5,
    *,
    min_samples=5,
    metric="minkowski",
    metric_params=None,
    algorithm="auto",
    leaf_size=30,
    p=2,
    sample_weight=None,
    n_jobs=None,
):
    est = DBSCAN(
        eps=eps,
        min_samples=min_samples,
        metric=metric,
        metric_params=metric_params,
        algorithm=algorithm,
        leaf_size=leaf_size,
        p=p,
        n_jobs=n_jobs,
    )
    est.fit(X, sample_weight=sample_weight)
    return est.core_sample_indices_, est.labels_


def _copy_doc():
    from sklearn.cluster import dbscan as _sklearn_dbscan

    dbscan.__doc__ = _sklearn_dbscan.__doc__


_copy_doc()
