"""Nearest-neighbour searches with Rust kernels: the shared part of the neighbours family.

Each estimator is ``class Ours(NeighborsMixin, sklearn's class)``. scikit-learn's ``_fit`` keeps
parameter and input validation, ``effective_metric_`` and the algorithm choice; ``kneighbors``
and ``radius_neighbors`` below are scikit-learn's methods with their brute-force reductions
(``ArgKmin``, ``RadiusNeighbors``, ``pairwise_distances_chunked``) replaced by
``sklearn_rs._core.kneighbors`` / ``radius_neighbors``; the graphs, predictions and transforms
of scikit-learn's classes are built on those two methods.

Calls Rust does not compute (see ``neighbors_fallback``) run scikit-learn's code, logged by the
patch registry.
"""

import numbers

import numpy as np
import scipy.sparse as sp
from joblib import effective_n_jobs
from sklearn.neighbors import KNeighborsClassifier as _SklearnKNeighborsClassifier
from sklearn.neighbors import KNeighborsRegressor as _SklearnKNeighborsRegressor
from sklearn.neighbors import NearestNeighbors as _SklearnNearestNeighbors
from sklearn.utils._tags import get_tags
from sklearn.utils.validation import check_is_fitted, validate_data

from sklearn_rs import _patch
from sklearn_rs._base import RustEstimatorMixin, samples_view
from sklearn_rs._metrics import MetricSpec, check_n_features, effective_metric, resolve_metric
from sklearn_rs._threads import _core

# Metrics scikit-learn's brute force sends through ``pairwise_distances_chunked`` instead of
# ``ArgKmin``: their distances keep a float32 input's dtype.
_PAIRWISE_PATH = frozenset({"cosine"})


def _auto_method(params, X):
    """The algorithm scikit-learn's ``_fit`` picks for ``algorithm='auto'`` on dense ``X``."""
    shape = np.shape(X)
    if len(shape) != 2:
        return "brute"
    n_samples, n_features = shape
    n_neighbors = params.get("n_neighbors")
    if (
        params.get("metric") == "precomputed"
        or n_features > 15
        or (n_neighbors is not None and n_neighbors >= n_samples // 2)
    ):
        return "brute"
    name, metric_params = effective_metric(
        params.get("metric"), params.get("p"), params.get("metric_params")
    )
    if name == "minkowski" and metric_params.get("p", 2) < 1:
        return "brute"
    if name == "minkowski" and metric_params.get("w") is not None:
        return "ball_tree"
    if name in _kd_tree_metrics():
        return "kd_tree"
    return "ball_tree"


def neighbors_fallback(params, X):
    """Why a neighbours estimator runs scikit-learn's code for this ``fit``, or ``None``."""
    sparse = sp.issparse(X)
    try:
        spec = resolve_metric(
            params.get("metric"), params.get("p"), params.get("metric_params"), sparse=sparse
        )
    except (ValueError, TypeError):
        return None  # scikit-learn's own validation raises its error at the same point
    if isinstance(spec, str):
        return spec
    if spec.name == "precomputed":
        return "metric='precomputed' (distances given as input) runs scikit-learn's code"
    if sparse:
        return ("CSR input: tied neighbours are not ordered as scikit-learn orders them yet, "
                "so predictions can differ")
    if params.get("weights") == "distance":
        return ("weights='distance': 1 / distance amplifies the rounding in which our exact "
                "distances of near-duplicate points differ from scikit-learn's")
    algorithm = params.get("algorithm", "brute")
    if not sparse and X is not None and algorithm == "auto":
        try:
            algorithm = _auto_method(params, X)
        except (ValueError, TypeError):
            return None
    if not sparse and algorithm in ("kd_tree", "ball_tree"):
        return f"algorithm={algorithm!r}: trees are not computed in Rust yet"
    return None


def _kd_tree_metrics():
    from sklearn.neighbors import VALID_METRICS

    return VALID_METRICS["kd_tree"]


def _common_dtype(a, b):
    if a.dtype == b.dtype and a.dtype in (np.float32, np.float64):
        return a.dtype
    return np.float64


class NeighborsMixin(RustEstimatorMixin):
    """What every sklearn_rs neighbours estimator shares: the fit bookkeeping and the two
    searches."""

    _patch_name = None

    def _fit(self, X, y=None):
        reason = self._fallback_reason(X)
        result = super()._fit(X, y)
        self._rs_spec = None
        if reason is None and self._fit_method == "brute":
            spec = resolve_metric(
                self.metric, self.p, self.metric_params, sparse=sp.issparse(self._fit_X)
            )
            self._rs_spec = spec if isinstance(spec, MetricSpec) else None
        return result

    def _rs_threads(self):
        n = self._rs_n_threads()
        if getattr(self, "n_jobs", None) is not None:
            n = min(n, effective_n_jobs(self.n_jobs))
        return max(1, n)

    def _rs_searchable(self, X):
        """Whether Rust answers this query (the fit was ours, the storages agree)."""
        spec = getattr(self, "_rs_spec", None)
        if spec is None or getattr(self, "_fit_method", None) != "brute":
            return False
        if X is not None and sp.issparse(X) != sp.issparse(self._fit_X):
            _patch.logger.info(
                "%s: falling back to scikit-learn for this call: dense and sparse samples mixed",
                type(self).__name__,
            )
            return False
        return True

    def _validate_queries(self, X):
        ensure_all_finite = "allow-nan" if get_tags(self).input_tags.allow_nan else True
        return validate_data(
            self,
            X,
            ensure_all_finite=ensure_all_finite,
            accept_sparse="csr",
            reset=False,
            order="C",
        )

    def _rs_pair(self, X):
        """The fitted samples and the queries as native views of one float dtype, and the
        dtype the distances come back in."""
        fit = self._fit_X
        dtype = _common_dtype(fit, X)
        fit, X = fit.astype(dtype, copy=False), X.astype(dtype, copy=False)
        check_n_features(self._rs_spec, fit.shape[1])
        out = dtype if self._rs_spec.name in _PAIRWISE_PATH else np.float64
        return samples_view(fit), samples_view(X), out

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        check_is_fitted(self)
        if not self._rs_searchable(X):
            return super().kneighbors(X, n_neighbors, return_distance)
        if n_neighbors is None:
            n_neighbors = self.n_neighbors
        elif n_neighbors <= 0:
            raise ValueError("Expected n_neighbors > 0. Got %d" % n_neighbors)
        elif not isinstance(n_neighbors, numbers.Integral):
            raise TypeError(
                "n_neighbors does not take %s value, enter integer value" % type(n_neighbors)
            )
        query_is_train = X is None
        if query_is_train:
            X = self._fit_X
            n_neighbors += 1  # the sample itself is removed below
        else:
            X = self._validate_queries(X)
        n_samples_fit = self.n_samples_fit_
        if n_neighbors > n_samples_fit:
            if query_is_train:
                n_neighbors -= 1
                inequality_str = "n_neighbors < n_samples_fit"
            else:
                inequality_str = "n_neighbors <= n_samples_fit"
            raise ValueError(
                f"Expected {inequality_str}, but "
                f"n_neighbors = {n_neighbors}, n_samples_fit = {n_samples_fit}, "
                f"n_samples = {X.shape[0]}"
            )
        fit, queries, out_dtype = self._rs_pair(X)
        neigh_dist, neigh_ind = _core.kneighbors(
            fit, queries, self._rs_spec, int(n_neighbors), self._rs_threads()
        )
        neigh_dist = neigh_dist.astype(out_dtype, copy=False)
        neigh_ind = neigh_ind.astype(np.intp, copy=False)
        if query_is_train:
            # Drop each sample from its own list; when duplicates pushed it out, drop the
            # first neighbour instead (scikit-learn's rule).
            n_queries = X.shape[0]
            sample_mask = neigh_ind != np.arange(n_queries)[:, None]
            dup_gr_nbrs = np.all(sample_mask, axis=1)
            sample_mask[:, 0][dup_gr_nbrs] = False
            neigh_ind = np.reshape(neigh_ind[sample_mask], (n_queries, n_neighbors - 1))
            neigh_dist = np.reshape(neigh_dist[sample_mask], (n_queries, n_neighbors - 1))
        return (neigh_dist, neigh_ind) if return_distance else neigh_ind

    def radius_neighbors(self, X=None, radius=None, return_distance=True, sort_results=False):
        check_is_fitted(self)
        if not self._rs_searchable(X) or np.ndim(radius) > 0:
            return super().radius_neighbors(X, radius, return_distance, sort_results)
        if sort_results and not return_distance:
            raise ValueError("return_distance must be True if sort_results is True.")
        query_is_train = X is None
        X = self._fit_X if query_is_train else self._validate_queries(X)
        if radius is None:
            radius = self.radius
        fit, queries, out_dtype = self._rs_pair(X)
        offsets, indices, distances = _core.radius_neighbors(
            fit, queries, self._rs_spec, float(radius), bool(sort_results), self._rs_threads()
        )
        indices = indices.astype(np.intp, copy=False)
        distances = distances.astype(out_dtype, copy=False)
        n_queries = X.shape[0]
        neigh_ind = np.empty(n_queries, dtype=object)
        neigh_dist = np.empty(n_queries, dtype=object)
        for i in range(n_queries):
            a, b = offsets[i], offsets[i + 1]
            ind, dist = indices[a:b], distances[a:b]
            if query_is_train:
                keep = ind != i
                ind, dist = ind[keep], dist[keep]
            neigh_ind[i] = ind
            neigh_dist[i] = dist
        return (neigh_dist, neigh_ind) if return_distance else neigh_ind


class NearestNeighbors(NeighborsMixin, _SklearnNearestNeighbors):
    pass


class KNeighborsClassifier(NeighborsMixin, _SklearnKNeighborsClassifier):
    # scikit-learn answers uniform-weight, single-output queries with its fused ArgKminClassMode
    # reduction; ours counts the votes of the Rust search's neighbours (the same counts divided
    # by k, ties to the first class as its argmax). Other cases are scikit-learn's code on top
    # of our kneighbors.
    def _rs_votes(self, X):
        return (
            self.weights == "uniform"
            and not self.outputs_2d_
            and self._rs_searchable(X)
        )

    def predict_proba(self, X):
        check_is_fitted(self, "_fit_method")
        if not self._rs_votes(X):
            return super().predict_proba(X)
        neigh_ind = self.kneighbors(X, return_distance=False)
        n_queries, k = neigh_ind.shape
        proba = np.zeros((n_queries, len(self.classes_)))
        np.add.at(proba, (np.repeat(np.arange(n_queries), k), self._y[neigh_ind].ravel()), 1.0)
        proba /= k
        return proba

    def predict(self, X):
        check_is_fitted(self, "_fit_method")
        if not self._rs_votes(X):
            return super().predict(X)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class KNeighborsRegressor(NeighborsMixin, _SklearnKNeighborsRegressor):
    pass
