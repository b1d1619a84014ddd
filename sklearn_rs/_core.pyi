"""Type stub of ``sklearn_rs._core``, the native module (Rust, PyO3).

Arrays are NumPy arrays of float32 or float64: every float array of one call has the dtype of
``sample_weight`` (``centers`` for ``transform``, ``dtype_of`` for ``mean_variance``). Samples
``x`` are a C-contiguous ``(n_samples, n_features)`` array or a CSR matrix given as
``(data, indices, indptr, n_samples, n_features)`` with int32 ``indices`` and int64 ``indptr``.
Centers go in flattened (``(n_clusters * n_features,)``, C order) and come back 2-D.
``n_threads`` is capped by the threadpoolctl limit.
"""

from typing import Literal, Union

import numpy as np
import numpy.typing as npt

_Floats = Union[npt.NDArray[np.float32], npt.NDArray[np.float64]]
_Samples = Union[_Floats, tuple[_Floats, npt.NDArray[np.int32], npt.NDArray[np.int64], int, int]]
_Labels = npt.NDArray[np.int32]
# (kind, iteration, value, tol): kind "iteration" (value: inertia), "strict" (strict
# convergence) or "tol" (value: center shift within tol).
_Event = tuple[Literal["iteration", "strict", "tol"], int, float, float]

def kmeans_single(
    x: _Samples,
    sample_weight: _Floats,
    centers_init: _Floats,
    algorithm: Literal["lloyd", "elkan"],
    max_iter: int,
    tol: float,
    verbose: bool,
    n_threads: int,
) -> tuple[_Labels, float, _Floats, int, list[_Event]]:
    """One k-means run (Lloyd or Elkan): ``(labels, inertia, centers, n_iter, events)``."""

def init_kmeans_plusplus(
    x: _Samples,
    sample_weight: _Floats,
    n_clusters: int,
    n_local_trials: int,
    uniforms: npt.NDArray[np.float64],
    n_threads: int,
) -> tuple[_Floats, npt.NDArray[np.int64]]:
    """Greedy k-means++ from scikit-learn's uniforms: ``(centers, indices)``."""

def init_random(
    x: _Samples,
    sample_weight: _Floats,
    n_clusters: int,
    key: npt.NDArray[np.uint32],
    pos: int,
) -> tuple[_Floats, npt.NDArray[np.int64], npt.NDArray[np.uint32], int]:
    """numpy's ``choice(replace=False, p=...)`` on an MT19937 state:
    ``(centers, indices, key, pos)``."""

# (kind, step or count, batch inertia, ewa inertia): kind "reassigned" (count of centers moved),
# "step", "centers" (small centers change) or "inertia" (lack of improvement).
_MiniBatchEvent = tuple[
    Literal["reassigned", "step", "centers", "inertia"], int, Union[float, None], Union[float, None]
]

def minibatch_fit(
    x: _Samples,
    sample_weight: _Floats,
    centers_init: _Floats,
    batch_size: int,
    n_steps: int,
    tol: float,
    max_no_improvement: Union[int, None],
    reassignment_ratio: float,
    verbose: bool,
    key: npt.NDArray[np.uint32],
    pos: int,
    n_threads: int,
) -> dict:
    """MiniBatchKMeans.fit's loop on an MT19937 state: a dict of ``centers``, ``counts``,
    ``n_steps``, ``ewa_inertia``, ``ewa_inertia_min``, ``no_improvement``,
    ``n_since_last_reassign``, ``events`` (list of ``_MiniBatchEvent``), ``all_reassigned``,
    ``key`` and ``pos``."""

def minibatch_step(
    x: _Samples,
    sample_weight: _Floats,
    centers: _Floats,
    counts: _Floats,
    reassignment_ratio: Union[float, None],
    key: npt.NDArray[np.uint32],
    pos: int,
    n_threads: int,
) -> tuple[_Floats, _Floats, float, int, bool, npt.NDArray[np.uint32], int]:
    """One ``_mini_batch_step``: ``(centers, counts, inertia, n_reassigned, all_reassigned,
    key, pos)``."""

def minibatch_partial_fit_step(
    x: _Samples,
    sample_weight: Union[_Floats, None],
    centers: _Floats,
    counts: _Floats,
    reassignment_ratio: Union[float, None],
    key: Union[npt.NDArray[np.uint32], None],
    pos: int,
    compute_labels: bool,
    check_finite: bool,
    n_threads: int,
) -> Union[
    tuple[
        _Floats, _Floats, float, int, bool,
        Union[tuple[npt.NDArray[np.int32], float], None],
        Union[npt.NDArray[np.uint32], None], int,
    ],
    None,
]:
    """One ``partial_fit`` step, then with ``compute_labels`` the labels and inertia against
    the new centers: ``(centers, counts, inertia, n_reassigned, all_reassigned,
    labels_inertia, key, pos)``, or ``None`` when the step may reassign and no MT19937 state
    was given."""

def labels_inertia(
    x: _Samples,
    sample_weight: _Floats,
    centers: _Floats,
    with_inertia: bool,
    n_threads: int,
    check_finite: bool = False,
) -> tuple[_Labels, float]:
    """Closest center of every sample and the weighted inertia (0.0 unless ``with_inertia``);
    with ``check_finite``, ValueError when ``x`` holds NaN or infinity."""

def transform(
    x: _Samples, centers: _Floats, n_threads: int, check_finite: bool = False
) -> _Floats:
    """Euclidean distances ``(n_samples, n_clusters)`` from each sample to each center; with
    ``check_finite``, ValueError when ``x`` holds NaN or infinity."""

def is_same_clustering(labels1: _Labels, labels2: _Labels, n_clusters: int) -> bool:
    """Whether two labelings are the same partition up to a renaming of the clusters."""

def mean_variance(x: _Samples, dtype_of: _Floats, n_threads: int) -> float:
    """Mean over features of the per-feature variance, computed in ``dtype_of``'s dtype."""

# k-means over row pieces of the samples (sklearn_rs.dask): a piece starts at a multiple of
# ``rows_per_block(n, state)`` and is cut into blocks of that size, blocks of the partition the
# single-machine fit uses; per-block results are combined in block order.
def rows_per_block(n_samples: int, per_block_state: int) -> int:
    """Samples per block of the fixed partition of ``n_samples`` samples."""

def kmeans_block_assign(
    x: _Floats,
    sample_weight: _Floats,
    centers: _Floats,
    labels: Union[_Labels, None],
    rows_per_block: int,
    accumulate: bool,
    n_threads: int,
) -> tuple[_Labels, bool, _Floats, _Floats]:
    """A piece's labels, whether any changed, per-block cluster sums and weights."""

def kmeans_block_farthest(
    x: _Floats,
    sample_weight: _Floats,
    centers: _Floats,
    labels: _Labels,
    n_far: int,
    offset: int,
    n_threads: int,
) -> tuple[bool, _Floats, npt.NDArray[np.int64], _Floats, _Floats, npt.NDArray[np.int64]]:
    """``(any_off_center, distances, indices, rows, weights, labels)`` of the farthest samples."""

def kmeans_combine_update(
    sums: _Floats, weights: _Floats, centers_old: _Floats, far: Union[dict, None] = None
) -> tuple[_Floats, float]:
    """New centers from per-block sums (empty clusters relocated) and the squared shift."""

def kmeans_block_inertia(
    x: _Floats,
    sample_weight: _Floats,
    centers: _Floats,
    labels: _Labels,
    rows_per_block: int,
    n_threads: int,
) -> list[float]:
    """The weighted inertia of each block of a piece."""

def combine_in_order(parts: list[float]) -> float:
    """Per-block values added in block order."""

def kmeans_total_weights(weights: _Floats) -> _Floats:
    """Cluster weights from per-block weights, added in block order."""

def moment_block_sums(
    x: _Floats, rows_per_block: int, mean: Union[npt.NDArray[np.float64], None], n_threads: int
) -> npt.NDArray[np.float64]:
    """Per-block feature sums (or squared deviations from ``mean``) of a piece."""

def combine_feature_sums(parts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Per-block feature sums added in block order."""

def mean_variance_of(squared_deviations: npt.NDArray[np.float64], n: int) -> float:
    """The mean feature variance from combined squared deviations of ``n`` samples."""

# k-means++ over row pieces: the running sums continue from piece to piece, in order.
def kmeanspp_first(sample_weight: _Floats, u: float) -> int:
    """The first center's index: ``choice(n, p=sample_weight / sum)`` on the uniform ``u``."""

def kmeanspp_lower(
    x: _Floats, y: _Floats, closest: Union[npt.NDArray[np.float64], None], n_threads: int
) -> npt.NDArray[np.float64]:
    """Squared distances to the closest center so far, lowered by the center ``y``."""

def kmeanspp_potential(
    sample_weight: _Floats, closest: npt.NDArray[np.float64], start: float
) -> float:
    """``start + sum(sample_weight * closest)`` in sample order."""

def kmeanspp_cumsum(
    sample_weight: _Floats,
    closest: npt.NDArray[np.float64],
    start: float,
    values: Union[list[float], None] = None,
) -> tuple[float, list[Union[int, None]]]:
    """The cumulative sum's last value and the first index reaching each of ``values``."""

def kmeanspp_candidate_potentials(
    x: _Floats,
    sample_weight: _Floats,
    closest: npt.NDArray[np.float64],
    ys: _Floats,
    rows_per_block: int,
    n_threads: int,
) -> npt.NDArray[np.float64]:
    """Per-block potentials ``(blocks, candidates)`` of the candidate centers ``ys``."""

def kmeanspp_combine(parts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Per-block candidate potentials added in block order."""

# StandardScaler. Dense ``x`` is C-contiguous: ``(n_samples, n_features)`` when ``columns`` is
# False, the transpose of an F-ordered array (every feature contiguous) when True. Sparse
# batches come as ``data, indices, indptr, n_samples, n_features, by_rows`` (CSR when
# ``by_rows``, else CSC; ``indices`` and ``indptr`` of one dtype, int32 or int64).
_Index = Union[npt.NDArray[np.int32], npt.NDArray[np.int64]]

def scaler_dense_update(
    x: _Floats,
    columns: bool,
    sample_weight: Union[_Floats, None],
    last_mean: npt.NDArray[np.float64],
    last_var: Union[npt.NDArray[np.float64], None],
    last_count: npt.NDArray[np.float64],
    n_threads: int,
) -> tuple[
    npt.NDArray[np.float64], Union[npt.NDArray[np.float64], None], npt.NDArray[np.float64]
]:
    """``_incremental_mean_and_var``: the running float64 ``(mean, var, count)`` after the
    batch ``x`` (``var`` is None when ``last_var`` is)."""

# StandardScaler over row pieces: the passes' running sums continue from piece to piece.
def scaler_chain_first(
    x: _Floats,
    columns: bool,
    sample_weight: Union[_Floats, None],
    start: Union[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], bool], None],
    n_threads: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], bool]:
    """The first pass ``(sum, count, any_nan)`` of ``x``, continuing ``start``."""

def scaler_chain_second(
    x: _Floats,
    columns: bool,
    sample_weight: Union[_Floats, None],
    t: npt.NDArray[np.float64],
    nansum: bool,
    start: Union[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]], None],
    n_threads: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The second pass ``(correction, squares)`` about ``t``, continuing ``start``."""

def scaler_fold(
    last_mean: npt.NDArray[np.float64],
    last_var: Union[npt.NDArray[np.float64], None],
    last_count: npt.NDArray[np.float64],
    sum: npt.NDArray[np.float64],
    count: npt.NDArray[np.float64],
    deviations: Union[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]], None],
) -> tuple[
    npt.NDArray[np.float64], Union[npt.NDArray[np.float64], None], npt.NDArray[np.float64]
]:
    """The update step of ``scaler_dense_update`` from a batch's passes."""

def scaler_non_nan_counts(x: _Floats, columns: bool, n_threads: int) -> npt.NDArray[np.int64]:
    """Non-NaN samples per feature of a dense batch."""

def scaler_scale(
    var: npt.NDArray[np.float64],
    mean: npt.NDArray[np.float64],
    count: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Standard deviations, 1 for near-constant features (``_is_constant_feature``)."""

def scaler_transform(
    x: _Floats,
    columns: bool,
    mean: Union[_Floats, None],
    scale: Union[_Floats, None],
    inverse: bool,
    in_place: bool,
    n_threads: int,
) -> Union[_Floats, None]:
    """``(x - mean) / scale`` (``inverse``: ``x * scale + mean``) in ``x``'s dtype, missing
    vectors skipped: in place (returns None) or into a new array shaped as ``x``."""

def scaler_sparse_update(
    data: _Floats,
    indices: _Index,
    indptr: _Index,
    n_samples: int,
    n_features: int,
    by_rows: bool,
    weights: _Floats,
    last: Union[tuple[_Floats, _Floats, _Floats], None],
) -> tuple[_Floats, _Floats, _Floats]:
    """``mean_variance_axis`` (or, given ``last=(mean, var, n)``, ``incr_mean_variance_axis``)
    of a sparse batch: ``(mean, var, n)`` in the data's dtype."""

def scaler_sparse_non_nan_weights(
    data: _Floats,
    indices: _Index,
    indptr: _Index,
    n_samples: int,
    n_features: int,
    by_rows: bool,
    weights: _Floats,
) -> _Floats:
    """Total weight of the non-NaN samples per feature, in the weights' dtype."""

def scaler_sparse_scale_columns(
    data: _Floats,
    indices: _Index,
    scale: npt.NDArray[np.float64],
    reciprocal: bool,
    n_threads: int,
) -> None:
    """Multiplies a CSR matrix's ``data`` in place by its column's ``scale`` (or ``1 /
    scale``), in float64 rounded to the data's dtype."""

# --- PCA --------------------------------------------------------------------------------------

# PCA (covariance_eigh) over row pieces aligned to the partition's blocks.
def pca_rows_per_block(n_samples: int, n_features: int) -> int:
    """Rows per block of the partition covariance_eigh cuts the rows into."""

def pca_block_moments(
    x: _Floats, rows_per_block: int, n_threads: int
) -> tuple[list[int], npt.NDArray[np.float64], npt.NDArray[np.float64], _Floats]:
    """Per-block ``(counts, weights, means, scatter lower triangles)`` of a piece."""

def pca_fit_moments(
    counts: list[int],
    weights: npt.NDArray[np.float64],
    means: npt.NDArray[np.float64],
    scatters: _Floats,
    n_components: tuple[str, float],
    whiten: bool,
) -> dict:
    """covariance_eigh's fit from every block's moments, merged in block order."""

def pca_fit(
    x: _Samples,
    solver: str,
    n_components: tuple[str, float],
    want_projected: bool,
    whiten: bool,
    n_threads: int,
    n_iter: int = 0,
    normalizer: str = "none",
    transpose: bool = False,
    test_matrix: Union[npt.NDArray[np.float64], None] = None,
    n_random: int = 0,
) -> dict:
    """Fits PCA with ``solver`` ("full", "covariance_eigh", "arpack", "randomized");
    ``n_components`` is ``("count" | "fraction" | "mle", value)``; the randomized solver's
    settings come resolved, with its Gaussian test matrix. Returns the fitted attributes
    (``mean``, ``components``, ``explained_variance``, ``explained_variance_ratio``,
    ``singular_values``, ``noise_variance`` (1-element array or None), ``n_components``) and
    ``projected`` (``fit_transform``'s result, or None)."""

def pca_transform(
    x: _Samples,
    mean: _Floats,
    components: _Floats,
    whiten_by: Union[_Floats, None],
    n_threads: int,
) -> _Floats:
    """``(x - mean) @ components.T`` (components flattened), divided by the whitening scale
    of the explained variances ``whiten_by`` when given."""

def pca_inverse_transform(
    z: _Floats,
    mean: _Floats,
    components: _Floats,
    whiten_by: Union[_Floats, None],
    n_threads: int,
) -> _Floats:
    """``z @ components + mean`` (components scaled by ``sqrt(whiten_by)`` when given)."""

def pca_covariance(
    components: _Floats,
    explained_variance: _Floats,
    noise_variance: float,
    whiten: bool,
    n_features: int,
) -> _Floats:
    """The model's ``(d, d)`` covariance (``get_covariance``)."""

def pca_precision(
    components: _Floats,
    explained_variance: _Floats,
    noise_variance: float,
    whiten: bool,
    n_features: int,
) -> _Floats:
    """The model's ``(d, d)`` precision (``get_precision``); LinAlgError when singular."""

def pca_score_samples(
    x: _Floats,
    mean: _Floats,
    precision: _Floats,
    n_threads: int,
) -> _Floats:
    """Log-likelihood of each row under the Gaussian with this mean and precision."""

# --- LinearRegression and Ridge -------------------------------------------------------------

def linear_regression_fit(
    x: _Samples,
    y: _Floats,
    sample_weight: Union[_Floats, None],
    fit_intercept: bool,
    tol: float,
    positive: bool,
    n_threads: int,
) -> dict:
    """Fits ``LinearRegression`` on ``y`` ``(n_samples, n_targets)``. Returns ``coef``
    ``(n_targets, n_features)``, ``intercept`` ``(n_targets,)``, ``rank`` and ``singular``
    (dense X without ``positive``, else None), ``n_iter`` (None), ``solver``,
    ``ill_conditioned`` and ``singular_dual`` (empty, False)."""

def ridge_fit(
    x: _Samples,
    y: _Floats,
    sample_weight: Union[_Floats, None],
    fit_intercept: bool,
    alpha: list[float],
    solver: Literal["cholesky", "svd", "lsqr", "sparse_cg", "sag", "saga", "lbfgs"],
    tol: float,
    max_iter: Union[int, None],
    n_threads: int,
    seeds: Union[list[int], None] = None,
) -> dict:
    """Fits ``Ridge`` with one penalty per target (``seeds``: the ``make_dataset`` seed of
    each target for sag and saga). Returns ``coef``, ``intercept``, ``n_iter`` (a list for
    lsqr, sag and saga, else None), ``solver`` (the one used: ``svd`` after a singular
    Cholesky), ``ill_conditioned`` (reciprocal condition numbers scipy warns about),
    ``singular_dual`` (the dual system's least-squares fallback was taken) and
    ``overflow_epoch`` (sag's under-/overflow, else None)."""

def linear_predict(
    x: _Samples,
    coef: _Floats,
    intercept: _Floats,
    n_threads: int,
) -> _Floats:
    """``x @ coef.T + intercept`` as ``(n_samples, n_targets)``; ``coef`` ``(n_targets,
    n_features)`` and ``intercept`` ``(n_targets,)`` of x's dtype."""

# --- LogisticRegression -----------------------------------------------------------------------

def logistic_fit(
    x: _Samples,
    labels: npt.NDArray[np.int32],
    sample_weight: Union[npt.NDArray[np.float64], None],
    n_classes: int,
    fit_intercept: bool,
    intercept_scaling: float,
    penalize_intercept: bool,
    l2: float,
    params0: npt.NDArray[np.float64],
    max_iter: int,
    tol: float,
    ftol: float,
    n_threads: int,
) -> dict:
    """Fits one penalised logistic model by scipy's L-BFGS-B driver (``tol``: its ``gtol``,
    ``ftol``: its relative reduction tolerance). ``labels`` are class
    indices (class 1 is the positive one of two), ``params0`` the initial ``[coef (rows, d)
    row-major, intercepts]``, ``l2 = 1 / (C * sum(sample_weight))``. Returns ``coef`` (rows,
    d), ``intercept``, ``n_iter``, ``status``, ``message`` (scipy's) and ``loss``."""

def logistic_decision_function(
    x: _Samples,
    coef: npt.NDArray[np.float64],
    intercept: npt.NDArray[np.float64],
    n_threads: int,
) -> npt.NDArray[np.float64]:
    """``X @ coef.T + intercept`` as float64 ``(n, k)``; ``coef`` flattened ``(k * d,)``."""

def logistic_predict_proba(
    x: _Samples,
    coef: npt.NDArray[np.float64],
    intercept: npt.NDArray[np.float64],
    n_threads: int,
) -> npt.NDArray[np.float64]:
    """Class probabilities as float64: ``[1 - p, p]`` for one coefficient row, the softmax of
    the decision values otherwise."""

# A metric computed in Rust: sklearn_rs._metrics.MetricSpec, (name, p, w) with w float64 or None.
_Metric = tuple[str, Union[float, None], Union[npt.NDArray[np.float64], None]]

def pairwise_distances(
    x: _Samples, y: _Samples, metric: _Metric, reduced: bool, n_threads: int
) -> npt.NDArray[np.float64]: ...
def dbscan_fit(
    x: _Samples,
    eps: float,
    min_samples: float,
    sample_weight: npt.NDArray[np.float64] | None,
    metric: tuple[str, float | None, npt.NDArray[np.float64] | None] | None,
    n_threads: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """DBSCAN of ``x`` under the metric ``(name, p, w)``, or of the precomputed distance matrix
    ``x`` (dense, or a CSR radius graph) when ``metric`` is None. Returns the labels (-1 for
    noise) and the core-point flags."""

def kneighbors(
    fit: _Samples,
    queries: _Samples,
    metric: _Metric,
    k: int,
    n_threads: int,
    queries_are_fit: bool = False,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...
def kd_tree_build(
    data: npt.NDArray[np.float64], leaf_size: int, n_threads: int
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.uint32], npt.NDArray[np.int64], npt.NDArray[np.float64]
]:
    """``(data, idx, nodes, bounds)``: the samples in tree order, each leaf feature by
    feature ``(n * d,)``; their indices; ``(start, end, is_leaf)`` per node; ``(n_nodes, 2,
    d)`` node minima and maxima."""
def kd_tree_kneighbors(
    data: npt.NDArray[np.float64],
    idx: npt.NDArray[np.uint32],
    nodes: npt.NDArray[np.int64],
    bounds: npt.NDArray[np.float64],
    queries: npt.NDArray[np.float64],
    metric: _Metric,
    k: int,
    n_threads: int,
    reduced: bool = False,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...
def kd_tree_radius_neighbors(
    data: npt.NDArray[np.float64],
    idx: npt.NDArray[np.uint32],
    nodes: npt.NDArray[np.int64],
    bounds: npt.NDArray[np.float64],
    queries: npt.NDArray[np.float64],
    metric: _Metric,
    radius: float | npt.NDArray[np.float64],
    sort: bool,
    exclude_self: bool,
    n_threads: int,
    with_distances: bool = True,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...
def ball_tree_build(
    data: npt.NDArray[np.float64], leaf_size: int, metric: _Metric, n_threads: int
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.uint32],
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]: ...
def ball_tree_kneighbors(
    data: npt.NDArray[np.float64],
    idx: npt.NDArray[np.uint32],
    nodes: npt.NDArray[np.int64],
    centroids: npt.NDArray[np.float64],
    radii: npt.NDArray[np.float64],
    queries: npt.NDArray[np.float64],
    metric: _Metric,
    k: int,
    n_threads: int,
    reduced: bool = False,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...
def ball_tree_radius_neighbors(
    data: npt.NDArray[np.float64],
    idx: npt.NDArray[np.uint32],
    nodes: npt.NDArray[np.int64],
    centroids: npt.NDArray[np.float64],
    radii: npt.NDArray[np.float64],
    queries: npt.NDArray[np.float64],
    metric: _Metric,
    radius: float | npt.NDArray[np.float64],
    sort: bool,
    exclude_self: bool,
    n_threads: int,
    with_distances: bool = True,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...
def radius_neighbors(
    fit: _Samples,
    queries: _Samples,
    metric: _Metric,
    radius: float,
    sort: bool,
    exclude_self: bool,
    n_threads: int,
    with_distances: bool = True,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...
def precomputed_kneighbors(
    matrix: _Floats, k: int, n_threads: int
) -> tuple[_Floats, npt.NDArray[np.int64]]: ...
def precomputed_radius_neighbors(
    matrix: _Floats,
    radius: float,
    sort: bool,
    exclude_self: bool,
    n_threads: int,
    with_distances: bool = True,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], _Floats]: ...
def graph_rows_sorted(
    indptr: npt.NDArray[np.int64], data: _Floats
) -> bool | None: ...
def graph_sort_rows(
    indptr: npt.NDArray[np.int64],
    data: _Floats,
    indices: _Index,
    n_threads: int,
) -> None: ...
def graph_kneighbors(
    indptr: npt.NDArray[np.int64],
    data: _Floats,
    indices: _Index,
    k: int,
    n_threads: int,
) -> tuple[_Floats, _Index]: ...
def graph_radius_neighbors(
    indptr: npt.NDArray[np.int64],
    data: _Floats,
    indices: _Index,
    radius: float,
    exclude_self: bool,
    n_threads: int,
    with_distances: bool = True,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], _Floats]: ...
def neighbor_class_probabilities(
    offsets: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
    labels: npt.NDArray[np.int64],
    n_classes: int,
    n_threads: int,
    out: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]: ...
def neighbor_means(
    offsets: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
    y: npt.NDArray[np.float64],
    n_threads: int,
) -> npt.NDArray[np.float64]: ...
def neighbor_weighted_class_probabilities(
    offsets: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
    distances: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
    n_classes: int,
    weighting: str,
    n_threads: int,
    out: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]: ...
def neighbor_weighted_votes(
    offsets: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
    distances: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
    n_classes: int,
    n_threads: int,
) -> npt.NDArray[np.int64]: ...
def neighbor_weighted_means(
    offsets: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
    distances: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    weighting: str,
    n_threads: int,
) -> npt.NDArray[np.float64]: ...
