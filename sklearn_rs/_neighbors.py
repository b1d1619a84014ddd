"""Nearest-neighbour searches with Rust kernels: the shared part of the neighbours family.

Each estimator is ``class Ours(NeighborsMixin, sklearn's class)``. scikit-learn's ``_fit`` keeps
parameter and input validation, ``effective_metric_`` and the algorithm choice; ``kneighbors``
and ``radius_neighbors`` below are scikit-learn's methods with their brute-force reductions
(``ArgKmin``, ``RadiusNeighbors``, ``pairwise_distances_chunked``) replaced by
``sklearn_rs._core.kneighbors`` / ``radius_neighbors``, and on a tree fit scikit-learn's
``KDTree`` / ``BallTree`` queries by ``kd_tree_*`` / ``ball_tree_*`` on our tree.
``radius_neighbors_graph`` is built
from the Rust search's CSR lists directly; ``kneighbors_graph`` and the transforms are
scikit-learn's code on our ``kneighbors``. Uniform votes and uniform mean targets are computed
in Rust from the neighbour lists (``neighbor_class_probabilities``, ``neighbor_means``); other
weights are scikit-learn's code on our searches.

Calls Rust does not compute (see ``neighbors_fallback``) run scikit-learn's code, logged by the
patch registry.
"""

import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from joblib import effective_n_jobs
from scipy.sparse import csr_array
from sklearn.metrics._pairwise_distances_reduction import RadiusNeighborsClassMode
from sklearn.neighbors import KNeighborsClassifier as _SklearnKNeighborsClassifier
from sklearn.neighbors import KNeighborsRegressor as _SklearnKNeighborsRegressor
from sklearn.neighbors import NearestNeighbors as _SklearnNearestNeighbors
from sklearn.neighbors import RadiusNeighborsClassifier as _SklearnRadiusNeighborsClassifier
from sklearn.neighbors import RadiusNeighborsRegressor as _SklearnRadiusNeighborsRegressor
from sklearn.neighbors import BallTree, KDTree
from sklearn.neighbors._base import NeighborsBase
from sklearn.neighbors._classification import _adjusted_metric
from sklearn.utils import _align_api_if_sparse
from sklearn.utils._chunking import get_chunk_n_rows
from sklearn.utils._tags import get_tags
from sklearn.utils.validation import _num_samples, check_is_fitted, validate_data

from sklearn_rs import _patch, _precomputed
from sklearn_rs._base import RustEstimatorMixin, samples_view
from sklearn_rs._metrics import MetricSpec, check_n_features, effective_metric, resolve_metric
from sklearn_rs._threads import _core

# Metrics scikit-learn's brute force sends through ``pairwise_distances_chunked`` instead of
# ``ArgKmin`` (for CSR samples, euclidean too): their distances keep a float32 input's dtype.
_PAIRWISE_PATH = frozenset({"cosine"})
_SPARSE_PAIRWISE_PATH = frozenset({"cosine", "euclidean"})


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
    if name in _valid_metrics("kd_tree"):
        return "kd_tree"
    if name in _valid_metrics("ball_tree"):
        return "ball_tree"
    return "brute"


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
        return None  # dense or sparse distances: see _precomputed
    algorithm = params.get("algorithm", "brute")
    if not sparse and X is not None and algorithm == "auto":
        try:
            algorithm = _auto_method(params, X)
        except (ValueError, TypeError):
            return None
    if (algorithm in _TREES and spec.name in _valid_metrics(algorithm)
            and not _tree_computes(algorithm, spec)):
        return f"algorithm={algorithm!r}: metric {spec.name!r} is not computed on our trees"
    return None


def _tree_computes(method, spec):
    """Whether our tree ``method`` computes the metric ``spec`` (scikit-learn's tree raises
    for the others it does not take)."""
    if not isinstance(spec, MetricSpec) or spec.name not in _TREE_METRICS[method]:
        return False
    if spec.name == "minkowski":
        return spec.p >= 1 and (spec.w is None or method == "ball_tree")
    return True


def _own_tree(estimator, X, spec):
    """The tree ``fit`` builds in Rust (``"kd_tree"`` or ``"ball_tree"``) where scikit-learn
    would build its ``KDTree`` / ``BallTree`` for this dense ``X`` and metric (and raise none
    of its errors); ``None`` otherwise."""
    if sp.issparse(X) or isinstance(X, (KDTree, BallTree, NeighborsBase)):
        return None
    algorithm = estimator.algorithm
    if algorithm == "auto":
        try:
            algorithm = _auto_method(estimator.get_params(), X)
        except (ValueError, TypeError):
            return None
    return algorithm if algorithm in _TREES and _tree_computes(algorithm, spec) else None


# scikit-learn's trees, and the metrics ours compute, as resolved by ``resolve_metric``.
_TREES = {"kd_tree": KDTree, "ball_tree": BallTree}
_TREE_METRICS = {
    "kd_tree": frozenset({"euclidean", "manhattan", "chebyshev", "minkowski"}),
    "ball_tree": frozenset({"euclidean", "manhattan", "chebyshev", "minkowski", "haversine"}),
}
# Metrics whose query distances scikit-learn's trees convert with NumPy (``rdist_to_dist``),
# whose ``pow`` / ``arcsin`` may differ from the C library's in the last bit.
_NUMPY_DISTANCES = frozenset({"minkowski", "haversine"})


def _valid_metrics(method):
    from sklearn.neighbors import VALID_METRICS

    return VALID_METRICS[method]


def _common_dtype(a, b):
    if a.dtype == b.dtype and a.dtype in (np.float32, np.float64):
        return a.dtype
    return np.float64


class NeighborsMixin(RustEstimatorMixin):
    """What every sklearn_rs neighbours estimator shares: the fit bookkeeping and the views
    handed to Rust. The searches are in ``KNeighborsSearchMixin`` and ``RadiusSearchMixin``, so
    a class has only the methods scikit-learn's has."""

    _patch_name = None

    def _fit(self, X, y=None):
        reason = self._fallback_reason(X)
        self._rs_spec = self._rs_tree = None
        if reason is None and self.metric == "precomputed":
            # A graph sorted in Rust: scikit-learn's _fit finds it sorted (not warned twice).
            X = _precomputed.presorted_fit_input(X, self._rs_threads())
        spec = None
        if reason is None:
            try:
                spec = resolve_metric(self.metric, self.p, self.metric_params,
                                      sparse=sp.issparse(X))
            except (ValueError, TypeError):
                spec = None  # scikit-learn's _fit raises its own error
        method = _own_tree(self, X, spec)
        if method is None:
            result = super()._fit(X, y)
            if reason is None and self._fit_method == "brute":
                spec = resolve_metric(
                    self.metric, self.p, self.metric_params, sparse=sp.issparse(self._fit_X)
                )
                self._rs_spec = spec if isinstance(spec, MetricSpec) else None
            self._sklearn_tree()  # fitted on one of ours: scikit-learn's tree, not ours
            return result
        # scikit-learn's _fit validates and sets everything as for brute force (the same
        # checks pass for these metrics); only its tree is left out, ours built instead.
        algorithm = self.algorithm
        self.algorithm = "brute"
        try:
            result = super()._fit(X, y)
        finally:
            self.algorithm = algorithm
        self._fit_method = method
        data = np.ascontiguousarray(self._fit_X, dtype=np.float64)  # as scikit-learn's trees
        threads = self._rs_threads()
        if method == "kd_tree":
            self._rs_tree = _core.kd_tree_build(data, int(self.leaf_size), threads)
        else:
            self._rs_tree = _core.ball_tree_build(data, int(self.leaf_size), spec, threads)
        self._rs_spec = spec
        return result

    def _sklearn_tree(self):
        """scikit-learn's tree for the calls ours does not answer, built on first use."""
        tree = _TREES.get(self._fit_method)
        if tree is not None and getattr(self, "_tree", None) is None:
            self._tree = tree(self._fit_X, self.leaf_size, metric=self.effective_metric_,
                              **self.effective_metric_params_)
        return self._tree

    def _rs_weighting(self, X=None):
        """``"uniform"`` or ``"distance"`` where Rust weighs the neighbours' votes or targets
        (for queries ``X``); ``None`` for callables and for cosine distances and float32
        precomputed distances (scikit-learn keeps them float32 and weighs them in float32):
        scikit-learn's code then weighs our search's neighbours."""
        if self.weights == "uniform":
            return "uniform"
        if self.weights == "distance" and not self._rs_pairwise_path():
            if (self._rs_spec.name == "precomputed"
                    and not _precomputed.float64_distances(self, X)):
                return None
            return "distance"
        return None

    def _rs_pairwise_path(self):
        """Whether scikit-learn's brute force computes this metric's distances with
        ``pairwise_distances_chunked`` (distances in the data's dtype) for the fitted storage."""
        names = _SPARSE_PAIRWISE_PATH if sp.issparse(self._fit_X) else _PAIRWISE_PATH
        return self._rs_spec.name in names

    def _rs_zero_self(self):
        """Whether scikit-learn's brute force sets each fitted sample's distance to itself to 0
        for ``X=None`` (its pairwise functions do for ``X is Y``; the chunked loop passes the
        same object only when all queries fit in one chunk and one job runs). Only the sparse
        pairwise path reads this."""
        if self._rs_spec.name == "euclidean":
            return True  # pairwise_distances_chunked zeroes the diagonal of every chunk
        n = self.n_samples_fit_
        return (effective_n_jobs(self.n_jobs) == 1
                and get_chunk_n_rows(row_bytes=8 * n, max_n_rows=n) >= n)

    def _rs_threads(self):
        n = self._rs_n_threads()
        if getattr(self, "n_jobs", None) is not None:
            n = min(n, effective_n_jobs(self.n_jobs))
        return max(1, n)

    def _rs_searchable(self, X):
        """Whether Rust answers this query (the fit was ours, the storages agree)."""
        spec = getattr(self, "_rs_spec", None)
        if spec is None or getattr(self, "_fit_method", None) not in ("brute", *_TREES):
            return False
        precomputed = spec.name == "precomputed"  # the queries' storage decides
        if X is not None and not precomputed and sp.issparse(X) != sp.issparse(self._fit_X):
            _patch.logger.info(
                "%s: falling back to scikit-learn for this call: dense and sparse samples mixed",
                type(self).__name__,
            )
            self._sklearn_tree()
            return False
        return True

    def _rs_radius_searchable(self, X, radius=None):
        """Whether Rust answers this radius query: one radius per query only on our trees,
        one per query exactly (brute force raises on it, other shapes are scikit-learn's)."""
        if not self._rs_searchable(X):
            return False
        if np.ndim(radius) > 0 and not self._per_query_radius(X, radius):
            _patch.logger.info(
                "%s: falling back to scikit-learn for this call: one radius per query",
                type(self).__name__,
            )
            self._sklearn_tree()
            return False
        return True

    def _per_query_radius(self, X, radius):
        """Whether the array ``radius`` holds one radius per query of our tree."""
        if self._fit_method not in _TREES:
            return False
        try:
            n_queries = self.n_samples_fit_ if X is None else _num_samples(X)
        except (TypeError, ValueError):
            return False
        return np.shape(radius) == (n_queries,)

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
        out = dtype if self._rs_pairwise_path() else np.float64
        return samples_view(fit), samples_view(X), out



class KNeighborsSearchMixin(NeighborsMixin):
    """``kneighbors`` on the Rust search (scikit-learn's ``KNeighborsMixin`` gives the graph)."""

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
        if self._rs_spec.name == "precomputed":
            return _precomputed.kneighbors(self, X, n_neighbors, return_distance,
                                           self._rs_threads())
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
        if self._fit_method in _TREES:
            queries = np.ascontiguousarray(X, dtype=np.float64)
            numpy_distances = self._rs_spec.name in _NUMPY_DISTANCES
            search = getattr(_core, self._fit_method + "_kneighbors")
            neigh_dist, neigh_ind = search(
                *self._rs_tree, queries, self._rs_spec, int(n_neighbors), self._rs_threads(),
                reduced=numpy_distances)
            if numpy_distances:
                neigh_dist = self._rs_spec.rdist_to_dist(neigh_dist)
            out_dtype = np.float64
        else:
            fit, queries, out_dtype = self._rs_pair(X)
            neigh_dist, neigh_ind = _core.kneighbors(
                fit, queries, self._rs_spec, int(n_neighbors), self._rs_threads(),
                queries_are_fit=query_is_train and self._rs_zero_self())
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



class RadiusSearchMixin(NeighborsMixin):
    """``radius_neighbors`` and ``radius_neighbors_graph`` on the Rust search."""

    def _radius_queries(self, X):
        """The queries of a radius search: ``X`` validated, or ``None`` for the fitted samples."""
        if X is not None and self._rs_spec.name == "precomputed":
            return _precomputed.check_precomputed(X, self._rs_threads())
        return None if X is None else self._validate_queries(X)

    def _radius_search(self, X, radius, sort_results, validated=False, return_distance=True):
        """The Rust radius search of ``X`` (``None``: the fitted samples, each without itself)
        by brute force or on our tree (``radius`` one per query there too): CSR ``(offsets,
        indices, distances)``, distances in the dtype scikit-learn returns (empty without
        ``return_distance``)."""
        if self._rs_spec.name == "precomputed":
            return _precomputed.radius_search(self, X, radius, sort_results, validated,
                                              return_distance, self._rs_threads())
        query_is_train = X is None
        if not validated:
            X = self._radius_queries(X)
        X = self._fit_X if query_is_train else X
        if self._fit_method in _TREES:
            # scikit-learn's query_radius: float64 queries, radii and distances.
            radius = (float(radius) if np.ndim(radius) == 0
                      else np.ascontiguousarray(radius, dtype=np.float64))
            search = getattr(_core, self._fit_method + "_radius_neighbors")
            offsets, indices, distances = search(
                *self._rs_tree, np.ascontiguousarray(X, dtype=np.float64),
                self._rs_spec, radius, bool(sort_results), query_is_train,
                self._rs_threads(), with_distances=bool(return_distance))
            return offsets, indices.astype(np.intp, copy=False), distances
        fit, queries, out_dtype = self._rs_pair(X)
        offsets, indices, distances = _core.radius_neighbors(
            fit, queries, self._rs_spec, float(radius), bool(sort_results), query_is_train,
            self._rs_threads(), with_distances=bool(return_distance),
        )
        return offsets, indices.astype(np.intp, copy=False), distances.astype(out_dtype,
                                                                               copy=False)

    def radius_neighbors(self, X=None, radius=None, return_distance=True, sort_results=False):
        check_is_fitted(self)
        if not self._rs_radius_searchable(X, radius):
            return super().radius_neighbors(X, radius, return_distance, sort_results)
        if sort_results and not return_distance:
            raise ValueError("return_distance must be True if sort_results is True.")
        if radius is None:
            radius = self.radius
        offsets, indices, distances = self._radius_search(X, radius, sort_results,
                                                          return_distance=return_distance)
        neigh_ind = _object_rows(indices, offsets)
        if not return_distance:
            return neigh_ind
        return _object_rows(distances, offsets), neigh_ind

    def radius_neighbors_graph(self, X=None, radius=None, mode="connectivity",
                               sort_results=False):
        check_is_fitted(self)
        if radius is None:
            radius = self.radius
        if mode not in ("connectivity", "distance") or not self._rs_radius_searchable(X, radius):
            return super().radius_neighbors_graph(X, radius, mode, sort_results)
        # The CSR matrix scikit-learn assembles from the per-query lists, straight from the
        # search's lists.
        distance = mode == "distance"
        offsets, indices, distances = self._radius_search(
            X, radius, distance and sort_results, return_distance=distance)
        data = distances if distance else np.ones(len(indices))
        shape = (len(offsets) - 1, self.n_samples_fit_)
        return _align_api_if_sparse(csr_array((data, indices, offsets), shape=shape))


def _object_rows(values, offsets):
    """``values`` split at ``offsets`` into a 1-D object array of per-query arrays (the form
    scikit-learn's ``radius_neighbors`` returns)."""
    rows = np.empty(len(offsets) - 1, dtype=object)
    bounds = offsets.tolist()  # plain slices: several times faster than np.split's pieces
    for i in range(len(rows)):
        rows[i] = values[bounds[i]:bounds[i + 1]]
    return rows


def _label_columns(est):
    """The class-index target as a list of one contiguous int64 column per output, and the
    classes of each output."""
    _y = est._y if est.outputs_2d_ else est._y.reshape((-1, 1))
    classes = est.classes_ if est.outputs_2d_ else [est.classes_]
    return [np.ascontiguousarray(_y[:, k], dtype=np.int64) for k in range(_y.shape[1])], classes


class NearestNeighbors(KNeighborsSearchMixin, RadiusSearchMixin, _SklearnNearestNeighbors):
    pass


class KNeighborsClassifier(KNeighborsSearchMixin, _SklearnKNeighborsClassifier):
    # Uniform votes: scikit-learn counts them with its fused ArgKminClassMode reduction (single
    # output) or NumPy (multi-output); ours counts the Rust search's neighbours in Rust (the
    # same counts divided by k; predict takes the first class of the largest count, as both
    # of scikit-learn's paths do). Distance-weighted votes are summed in Rust in NumPy's
    # order (see neighbors/predict.rs); callable weights are scikit-learn's code on our
    # kneighbors.
    def _rs_votes(self, X):
        return self._rs_searchable(X) and self._rs_weighting(X) is not None

    def predict_proba(self, X):
        check_is_fitted(self, "_fit_method")
        if not self._rs_votes(X):
            return super().predict_proba(X)
        weighted = self._rs_weighting() == "distance"
        if weighted:
            neigh_dist, neigh_ind = self.kneighbors(X)
            _check_some_weight(neigh_dist)
        else:
            neigh_dist, neigh_ind = None, self.kneighbors(X, return_distance=False)
        offsets, indices, distances = _kneighbors_lists(neigh_ind, neigh_dist)
        labels, classes = _label_columns(self)
        probabilities = []
        for labels_k, classes_k in zip(labels, classes):
            if weighted:
                proba_k = _core.neighbor_weighted_class_probabilities(
                    offsets, indices, distances, labels_k, len(classes_k), "kneighbors",
                    self._rs_threads(), np.zeros((neigh_ind.shape[0], len(classes_k))))
            else:
                proba_k = _core.neighbor_class_probabilities(
                    offsets, indices, labels_k, len(classes_k), self._rs_threads())
            probabilities.append(proba_k)
        return probabilities if self.outputs_2d_ else probabilities[0]

    def predict(self, X):
        check_is_fitted(self, "_fit_method")
        if not self._rs_votes(X):
            return super().predict(X)
        if self._rs_weighting() == "distance":
            return self._weighted_votes(X)
        probabilities = self.predict_proba(X)
        if not self.outputs_2d_:
            return self.classes_[np.argmax(probabilities, axis=1)]
        y_pred = np.empty((probabilities[0].shape[0], len(self.classes_)),
                          dtype=self.classes_[0].dtype)
        for k, (proba_k, classes_k) in enumerate(zip(probabilities, self.classes_)):
            y_pred[:, k] = classes_k.take(np.argmax(proba_k, axis=1))
        return y_pred

    def _weighted_votes(self, X):
        """scikit-learn's ``weighted_mode`` of each query's distance-weighted neighbours."""
        neigh_dist, neigh_ind = self.kneighbors(X)
        _check_some_weight(neigh_dist)
        offsets, indices, distances = _kneighbors_lists(neigh_ind, neigh_dist)
        labels, classes = _label_columns(self)
        y_pred = np.empty((neigh_ind.shape[0], len(classes)), dtype=classes[0].dtype)
        for k, (labels_k, classes_k) in enumerate(zip(labels, classes)):
            votes = _core.neighbor_weighted_votes(offsets, indices, distances, labels_k,
                                                  len(classes_k), self._rs_threads())
            y_pred[:, k] = classes_k.take(votes)
        return y_pred if self.outputs_2d_ else y_pred.ravel()


class KNeighborsRegressor(KNeighborsSearchMixin, _SklearnKNeighborsRegressor):
    # Distance-weighted means computed in Rust from the Rust search's neighbours, summed in
    # NumPy's order (pairwise row sums); uniform and callable weights are scikit-learn's code
    # on our kneighbors.
    def predict(self, X):
        if (not self._rs_searchable(X) or self._rs_weighting(X) != "distance"
                or self._y.dtype.kind not in "biuf"):
            return super().predict(X)
        neigh_dist, neigh_ind = self.kneighbors(X)
        offsets, indices, distances = _kneighbors_lists(neigh_ind, neigh_dist)
        _y = self._y if self._y.ndim > 1 else self._y.reshape((-1, 1))
        y_pred = _core.neighbor_weighted_means(offsets, indices, distances,
                                               np.ascontiguousarray(_y, np.float64),
                                               "kneighbors", self._rs_threads())
        return y_pred.ravel() if self._y.ndim == 1 else y_pred


def _kneighbors_lists(neigh_ind, neigh_dist=None):
    """``kneighbors`` results as the CSR lists the Rust predictions take."""
    n_queries, k = neigh_ind.shape
    offsets = np.arange(0, n_queries * k + 1, k, dtype=np.int64)
    indices = neigh_ind.astype(np.int64, copy=False).ravel()
    distances = (None if neigh_dist is None
                 else np.ascontiguousarray(neigh_dist, dtype=np.float64).ravel())
    return offsets, indices, distances


def _check_some_weight(neigh_dist):
    """scikit-learn's error for a query all of whose distance weights are 0 (1 / inf)."""
    if np.isinf(neigh_dist).all(axis=1).any():
        raise ValueError(
            "All neighbors of some sample is getting zero weights. "
            "Please modify 'weights' to avoid this case if you are "
            "using a user-defined function."
        )


class RadiusNeighborsClassifier(RadiusSearchMixin, _SklearnRadiusNeighborsClassifier):
    # Uniform and distance-weighted votes counted in Rust from the Rust search's lists;
    # queries without neighbours (outliers) get the outlier label as scikit-learn's path for
    # the call gives it (see _outlier_votes). Callable weights are scikit-learn's code on our
    # radius_neighbors.
    def predict_proba(self, X):
        check_is_fitted(self, "_fit_method")
        if not self._rs_radius_searchable(X) or self._rs_weighting(X) is None:
            return super().predict_proba(X)
        weighted = self._rs_weighting() == "distance"
        _num_samples(self._fit_X if X is None else X)  # scikit-learn's first check of X
        metric, _ = _adjusted_metric(self.metric, self.metric_params, p=self.p)
        class_mode = (not weighted and not self.outputs_2d_ and self._fit_method == "brute"
                      and RadiusNeighborsClassMode.is_usable_for(X, self._fit_X, metric))
        queries = self._radius_queries(X)
        labels, classes = _label_columns(self)
        # The probabilities are allocated before the search, as scikit-learn's
        # RadiusNeighborsClassMode allocates its class scores (its other path allocates the
        # same arrays after searching): an output too large fails first, with NumPy's message.
        n_queries = self.n_samples_fit_ if X is None else queries.shape[0]
        probabilities = [np.zeros((n_queries, len(classes_k))) for classes_k in classes]
        offsets, indices, distances = self._radius_search(
            queries, self.radius, False, validated=True, return_distance=weighted)
        outliers = np.flatnonzero(np.diff(offsets) == 0)
        if outliers.size and (self.outlier_label if class_mode else self.outlier_label_) is None:
            raise ValueError(
                "No neighbors found for test samples %r, "
                "you can try using larger radius, "
                "giving a label for outliers, "
                "or considering removing them from your dataset." % outliers
            )
        for k, (labels_k, classes_k) in enumerate(zip(labels, classes)):
            if weighted:
                proba_k = _core.neighbor_weighted_class_probabilities(
                    offsets, indices, distances, labels_k, len(classes_k), "radius",
                    self._rs_threads(), probabilities[k])
            else:
                proba_k = _core.neighbor_class_probabilities(
                    offsets, indices, labels_k, len(classes_k), self._rs_threads(),
                    out=probabilities[k])
            if outliers.size:
                self._outlier_votes(proba_k, outliers, k, classes_k, class_mode)
        return probabilities if self.outputs_2d_ else probabilities[0]

    def _outlier_votes(self, proba_k, outliers, k, classes_k, class_mode):
        """Gives the outliers' probability to the outlier label's class. scikit-learn's fused
        RadiusNeighborsClassMode (single output, metrics other than euclidean) compares the
        ``outlier_label`` parameter with class indices; its other path compares
        ``outlier_label_`` with the classes. Without a match the row stays 0, with a warning."""
        if class_mode:
            label = self.outlier_label
            matches = [idx for idx in range(len(classes_k)) if idx == label]
        else:
            label = self.outlier_label_[k]
            matches = np.flatnonzero(classes_k == label)
        if len(matches) == 1 or (class_mode and matches):
            proba_k[outliers, matches[-1]] = 1.0
        else:
            warnings.warn(
                "Outlier label {} is not in training "
                "classes. All class probabilities of "
                "outliers will be assigned with 0."
                "".format(label)
            )


class RadiusNeighborsRegressor(RadiusSearchMixin, _SklearnRadiusNeighborsRegressor):
    # Uniform weights: the neighbours' mean targets computed in Rust from the Rust search's
    # lists (summed as np.mean sums them, float64); distance weights: np.average's weighted means
    # (see neighbors/predict.rs). Returned in the dtype scikit-learn's per-query rows give.
    # Callable weights are scikit-learn's code on our radius_neighbors.
    def predict(self, X):
        check_is_fitted(self, "_fit_method")
        if (not self._rs_radius_searchable(X) or self._rs_weighting(X) is None
                or self._y.dtype.kind not in "biuf"):
            return super().predict(X)
        weighted = self._rs_weighting() == "distance"
        offsets, indices, distances = self._radius_search(X, self.radius, False,
                                                          return_distance=weighted)
        _y = self._y if self._y.ndim > 1 else self._y.reshape((-1, 1))
        empty_obs = np.full_like(_y[0], np.nan)
        y64 = np.ascontiguousarray(_y, np.float64)
        if weighted:
            _check_weights_sum(offsets, distances)
            means = _core.neighbor_weighted_means(offsets, indices, distances, y64, "radius",
                                                  self._rs_threads())
        else:
            means = _core.neighbor_means(offsets, indices, y64, self._rs_threads())
        empty = np.diff(offsets) == 0
        dtypes = []
        if not empty.all():
            dtypes.append(np.float64 if weighted
                          else np.zeros((1, 1), dtype=_y.dtype).mean(axis=0).dtype)
        if empty.any():
            dtypes.append(_y.dtype)
        y_pred = means.astype(np.result_type(*dtypes), copy=False)
        y_pred[empty] = empty_obs
        if np.any(np.isnan(y_pred)):
            warnings.warn(
                "One or more samples have no neighbors "
                "within specified radius; predicting NaN."
            )
        if self._y.ndim == 1:
            y_pred = y_pred.ravel()
        return y_pred


def _check_weights_sum(offsets, distances):
    """np.average's error for a query all of whose distance weights are 0 (1 / inf)."""
    infinite = np.isinf(distances)
    if not infinite.any():
        return
    lengths = np.diff(offsets)
    counts = np.bincount(np.repeat(np.arange(len(lengths)), lengths), weights=infinite,
                         minlength=len(lengths))
    if np.any((lengths > 0) & (counts == lengths)):
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
