"""Neighbour searches on precomputed distances (``metric="precomputed"``): the precomputed
branches of scikit-learn's ``kneighbors`` / ``radius_neighbors`` (``neighbors/_base.py``) on
Rust kernels (``kernels::neighbors::precomputed``).

A dense ``(n_queries, n_samples_fit)`` matrix: the ``k`` smallest entries of each row, or the
entries within the radius, with the matrix's values as distances (in the dtype
``pairwise_distances(metric="precomputed")`` gives: float32 only when the queries and the
fitted matrix are both float32). scikit-learn orders the ``k`` nearest with
``np.argpartition`` and ``np.argsort``, which leave entries at exactly equal distances in an
order of NumPy's unstable selection; ours puts them by lowest index.

A sparse CSR graph: each row's stored entries are its candidate neighbours. Rows are sorted by
value with a stable sort when they are not (scikit-learn's ``sort_graph_by_row_values``, with
its ``EfficiencyWarning``), then the first ``k`` of each row or the entries within the radius
are taken, in the graph's dtypes, as scikit-learn's ``_kneighbors_from_graph`` and
``_radius_neighbors_from_graph`` do. Graphs whose values are not float32/float64 go through
those scikit-learn functions.
"""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import EfficiencyWarning
from sklearn.neighbors._base import (
    _check_precomputed,
    _kneighbors_from_graph,
    _radius_neighbors_from_graph,
)
from sklearn.utils.validation import check_array

from sklearn_rs import _patch
from sklearn_rs._threads import _core

_FLOATS = (np.float32, np.float64)

_NOT_SORTED = (
    "Precomputed sparse input was not sorted by row values. Use the"
    " function sklearn.neighbors.sort_graph_by_row_values to sort the input"
    " by row values, with warn_when_not_sorted=False to remove this"
    " warning."
)


def _rust_graph(graph):
    """Whether the Rust kernels take this CSR graph's arrays."""
    return graph.data.dtype in _FLOATS and graph.indices.dtype in (np.int32, np.int64)


def _indptr(graph):
    return np.ascontiguousarray(graph.indptr, dtype=np.int64)


def _sorted_by_data(graph):
    """scikit-learn's ``_is_sorted_by_data`` (computed in Rust)."""
    from sklearn.neighbors._base import _is_sorted_by_data

    if not _rust_graph(graph):
        return _is_sorted_by_data(graph)
    verdict = _core.graph_rows_sorted(_indptr(graph), np.ascontiguousarray(graph.data))
    # Fewer than two entries: scikit-learn's check (and its IndexError when it raises one).
    return _is_sorted_by_data(graph) if verdict is None else verdict


def sort_rows(graph, n_threads):
    """A stably row-sorted copy of a CSR graph with float data, or ``graph`` when sorted
    already, with scikit-learn's warning when it was not (``sort_graph_by_row_values(graph,
    copy=True)``)."""
    if _sorted_by_data(graph):
        return graph
    warnings.warn(_NOT_SORTED, EfficiencyWarning)
    graph = graph.copy()
    graph.data = np.ascontiguousarray(graph.data)
    graph.indices = np.ascontiguousarray(graph.indices)
    _core.graph_sort_rows(_indptr(graph), graph.data, graph.indices, n_threads)
    return graph


def presorted_fit_input(X, n_threads):
    """``X`` for scikit-learn's ``_fit``: a CSR graph of finite non-negative floats sorted in
    Rust first (its ``_check_precomputed`` then finds it sorted); anything else unchanged for
    scikit-learn's own checks, errors and sort."""
    if not (sp.issparse(X) and X.format == "csr" and _rust_graph(X)):
        return X
    data = X.data
    if data.size and not (np.isfinite(data).all() and data.min() >= 0):
        return X  # scikit-learn's check_array raises its error
    return sort_rows(X, n_threads)


def check_precomputed(X, n_threads):
    """scikit-learn's ``_check_precomputed``: a dense matrix validated, a sparse one checked
    and row-sorted (in Rust for float data)."""
    if not sp.issparse(X):
        return _check_precomputed(X)
    if X.format not in ("csr", "csc", "coo", "lil"):
        raise TypeError(
            "Sparse matrix in {!r} format is not supported due to "
            "its handling of explicit zeros".format(X.format)
        )
    copied = X.format != "csr"
    graph = check_array(X, accept_sparse="csr", ensure_non_negative=True,
                        input_name="precomputed distance matrix")
    if not _rust_graph(graph):
        return _check_precomputed(X)
    if copied:
        # Converted already: scikit-learn sorts that copy in place.
        if _sorted_by_data(graph):
            return graph
        warnings.warn(_NOT_SORTED, EfficiencyWarning)
        graph.data = np.ascontiguousarray(graph.data)
        graph.indices = np.ascontiguousarray(graph.indices)
        _core.graph_sort_rows(_indptr(graph), graph.data, graph.indices, n_threads)
        return graph
    return sort_rows(graph, n_threads)


def _dense_queries(est, X):
    """The dense distances as ``pairwise_distances(X, _fit_X, metric="precomputed")`` hands
    them to scikit-learn's reductions: float32 when both are float32, else float64, with its
    shape check."""
    fit = est._fit_X
    dtype = np.float32 if X.dtype == fit.dtype == np.float32 else np.float64
    X = np.ascontiguousarray(X, dtype=dtype)
    if X.shape[1] != fit.shape[0]:
        raise ValueError(
            "Precomputed metric requires shape "
            "(n_queries, n_indexed). Got (%d, %d) "
            "for %d indexed." % (X.shape[0], X.shape[1], fit.shape[0])
        )
    return X


def float64_distances(est, X):
    """Whether the distances of a search of ``X`` (``None``: the fitted matrix) come back in
    float64 (scikit-learn weighs float32 distances in float32)."""
    source = est._fit_X if X is None else X
    if sp.issparse(source):
        return source.data.dtype == np.float64
    dtype = getattr(source, "dtype", None)
    return not (dtype == np.float32 and est._fit_X.dtype == np.float32)


def kneighbors(est, X, n_neighbors, return_distance, n_threads):
    """``kneighbors`` of a precomputed fit, from the point where scikit-learn's checks
    ``n_neighbors``."""
    query_is_train = X is None
    if query_is_train:
        X = est._fit_X
        n_neighbors += 1  # the sample itself is removed below
    else:
        X = check_precomputed(X, n_threads)
    n_samples_fit = est.n_samples_fit_
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
    if sp.issparse(X):
        if not _rust_graph(X):
            _patch.logger.info("%s: precomputed graph of %s values: scikit-learn's code",
                               type(est).__name__, X.data.dtype)
            neigh_dist, neigh_ind = _kneighbors_from_graph(X, n_neighbors, True)
        else:
            row_nnz_min = np.diff(X.indptr).min()
            if row_nnz_min < n_neighbors:
                raise ValueError(
                    "%d neighbors per samples are required, but some samples have only"
                    " %d neighbors in precomputed graph matrix. Decrease number of "
                    "neighbors used or recompute the graph with more neighbors."
                    % (n_neighbors, row_nnz_min)
                )
            neigh_dist, neigh_ind = _core.graph_kneighbors(
                _indptr(X), np.ascontiguousarray(X.data), np.ascontiguousarray(X.indices),
                int(n_neighbors), n_threads)
    else:
        X = _dense_queries(est, X)
        neigh_dist, neigh_ind = _core.precomputed_kneighbors(X, int(n_neighbors), n_threads)
        neigh_ind = neigh_ind.astype(np.intp, copy=False)
    if query_is_train:
        # scikit-learn's rule: drop each sample from its own list, or the first neighbour
        # when duplicates pushed it out.
        n_queries = X.shape[0]
        sample_mask = neigh_ind != np.arange(n_queries)[:, None]
        dup_gr_nbrs = np.all(sample_mask, axis=1)
        sample_mask[:, 0][dup_gr_nbrs] = False
        neigh_ind = np.reshape(neigh_ind[sample_mask], (n_queries, n_neighbors - 1))
        neigh_dist = np.reshape(neigh_dist[sample_mask], (n_queries, n_neighbors - 1))
    return (neigh_dist, neigh_ind) if return_distance else neigh_ind


def _radius_in(dtype, radius):
    """The float64 radius that compares with values of ``dtype`` as NumPy compares them with
    ``radius``: a float32 matrix against a Python float compares in float32 (the radius
    rounded to nearest), against a float64 scalar in float64 (the largest float32 not above
    it gives the same answers)."""
    if dtype != np.float32:
        return float(radius)
    r32 = np.float32(radius)
    if np.result_type(dtype, radius) == np.float32:
        return float(r32)
    if float(r32) > float(radius):
        r32 = np.nextafter(r32, np.float32(-np.inf))
    return float(r32)


def radius_search(est, X, radius, sort_results, validated, return_distance, n_threads):
    """The radius search of a precomputed fit as CSR ``(offsets, indices, distances)``
    (``X=None``: the fitted matrix, each row without its own sample)."""
    query_is_train = X is None
    if query_is_train:
        X = est._fit_X
    elif not validated:
        X = check_precomputed(X, n_threads)
    if sp.issparse(X):
        if X.nnz == 0:
            X.data.max()  # scikit-learn's _radius_neighbors_from_graph fails there
        if not _rust_graph(X):
            return _graph_lists_sklearn(X, radius, query_is_train, return_distance)
        offsets, indices, distances = _core.graph_radius_neighbors(
            _indptr(X), np.ascontiguousarray(X.data), np.ascontiguousarray(X.indices),
            _radius_in(X.data.dtype, radius), query_is_train, n_threads,
            with_distances=bool(return_distance))
    else:
        X = _dense_queries(est, X)
        offsets, indices, distances = _core.precomputed_radius_neighbors(
            X, _radius_in(X.dtype, radius), bool(sort_results), query_is_train, n_threads,
            with_distances=bool(return_distance))
    return offsets, indices.astype(np.intp, copy=False), distances


def _graph_lists_sklearn(X, radius, query_is_train, return_distance):
    """scikit-learn's ``_radius_neighbors_from_graph`` as CSR lists (graphs of non-float
    values)."""
    neigh_dist, neigh_ind = _radius_neighbors_from_graph(X, radius, True)
    if query_is_train:
        for i, row in enumerate(neigh_ind):
            mask = row != i
            neigh_ind[i], neigh_dist[i] = row[mask], neigh_dist[i][mask]
    lengths = [len(row) for row in neigh_ind]
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    indices = np.concatenate(list(neigh_ind)) if len(neigh_ind) else np.empty(0, np.intp)
    distances = (np.concatenate(list(neigh_dist)) if len(neigh_dist) and return_distance
                 else np.empty(0, X.data.dtype))
    return offsets, indices.astype(np.intp, copy=False), distances
