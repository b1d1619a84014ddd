"""sklearn_rs.DBSCAN gives scikit-learn's labels, core samples and components exactly.

Each case fits both libraries on the same data with the same parameters: blobs with noise,
uniform noise, duplicates, integer lattices (many pairs at exactly ``eps``), sample weights
(negative ones too), every metric computed in Rust, sparse input, precomputed dense matrices
and sparse radius graphs (non-symmetric ones included); then scikit-learn's errors and
warnings, the fallback of metrics not computed in Rust, and thread-count independence.
"""

import logging
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from skrs_utils import assert_same_error, make_blobs_data
from sklearn import cluster
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import radius_neighbors_graph
from threadpoolctl import threadpool_limits

import sklearn_rs
from sklearn_rs import DBSCAN, dbscan


def _fit_both(X, sample_weight=None, **params):
    with warnings.catch_warnings(record=True) as theirs_warned:
        warnings.simplefilter("always")
        theirs = cluster.DBSCAN(**params).fit(X, sample_weight=sample_weight)
    with warnings.catch_warnings(record=True) as ours_warned:
        warnings.simplefilter("always")
        ours = DBSCAN(**params).fit(X, sample_weight=sample_weight)
    assert [(w.category, str(w.message)) for w in ours_warned] == [
        (w.category, str(w.message)) for w in theirs_warned]
    return ours, theirs


def assert_same_clustering(X, sample_weight=None, **params):
    ours, theirs = _fit_both(X, sample_weight, **params)
    assert ours.labels_.dtype == theirs.labels_.dtype
    assert_array_equal(ours.labels_, theirs.labels_)
    assert_array_equal(ours.core_sample_indices_, theirs.core_sample_indices_)
    assert ours.core_sample_indices_.dtype == theirs.core_sample_indices_.dtype
    if sp.issparse(theirs.components_):
        assert sp.issparse(ours.components_)
        assert_array_equal(ours.components_.toarray(), theirs.components_.toarray())
    else:
        assert ours.components_.dtype == theirs.components_.dtype
        assert_array_equal(ours.components_, theirs.components_)
    return ours


def _blobs_with_noise(n, d, seed=0):
    rng = np.random.RandomState(seed)
    X = make_blobs_data(n_samples=n, n_features=d, n_centers=5, spread=4.0, std=0.6, seed=seed)
    noise = rng.uniform(-6, 6, size=(n // 5, d))
    return np.vstack([X, noise])


@pytest.mark.parametrize("d, eps_per_dim", [(1, 0.1), (2, 0.2), (3, 0.3), (5, 0.4), (16, 0.6),
                                           (24, 0.6)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blobs_with_noise(d, eps_per_dim, dtype):
    X = _blobs_with_noise(600, d).astype(dtype)
    eps = eps_per_dim * np.sqrt(d)
    ours = assert_same_clustering(X, eps=eps, min_samples=5)
    # Core points, border points and noise all occur, so every rule was exercised.
    core = np.zeros(len(X), bool)
    core[ours.core_sample_indices_] = True
    assert core.any() and (~core & (ours.labels_ >= 0)).any() and (ours.labels_ == -1).any()


@pytest.mark.parametrize("min_samples", [1, 2, 5, 20])
def test_uniform_noise(min_samples):
    X = np.random.RandomState(1).uniform(size=(2000, 2))
    assert_same_clustering(X, eps=0.03, min_samples=min_samples)


@pytest.mark.parametrize("d, eps, min_samples", [
    (2, 1.0, 3), (2, 1.0, 5), (2, np.sqrt(2), 4), (2, 2.0, 9),
    (3, 1.0, 5), (3, np.sqrt(3), 10), (4, 1.0, 6),
])
def test_integer_lattice_with_pairs_at_exactly_eps(d, eps, min_samples):
    side = 7 if d < 4 else 5
    grid = np.stack(np.meshgrid(*[np.arange(side)] * d), -1).reshape(-1, d)
    keep = np.random.RandomState(d).uniform(size=len(grid)) < 0.7
    assert_same_clustering(grid[keep], eps=eps, min_samples=min_samples)
    assert_same_clustering(grid[keep].astype(np.float64) * 0.1, eps=eps * 0.1,
                           min_samples=min_samples)


def test_duplicates_and_single_points():
    X = np.array([[0.0, 0.0]] * 4 + [[1.0, 1.0]] * 2 + [[5.0, 5.0]])
    for min_samples in (1, 2, 3, 4, 5):
        assert_same_clustering(X, eps=0.5, min_samples=min_samples)
    assert_same_clustering(np.array([[3.0, 4.0]]), eps=0.5, min_samples=1)
    assert_same_clustering(np.array([[3.0, 4.0]]), eps=0.5, min_samples=2)


@pytest.mark.parametrize("kind", ["integer", "fractional", "negative"])
def test_sample_weight(kind):
    X = _blobs_with_noise(500, 2, seed=3)
    rng = np.random.RandomState(4)
    weight = {
        "integer": rng.randint(0, 4, len(X)).astype(float),
        "fractional": rng.uniform(0.25, 2.0, len(X)).round(2),
        "negative": rng.choice([-1.0, 0.0, 1.0, 3.0], len(X)),
    }[kind]
    assert_same_clustering(X, sample_weight=weight, eps=0.3, min_samples=5)


@pytest.mark.parametrize("params", [
    dict(metric="manhattan"), dict(metric="cityblock"), dict(metric="l1"),
    dict(metric="chebyshev"), dict(metric="sqeuclidean", eps=0.09),
    dict(metric="minkowski", p=1), dict(metric="minkowski", p=3), dict(metric="minkowski", p=1.5),
    dict(metric="minkowski", p=3, metric_params={"w": np.array([0.5, 2.0])}),
    dict(metric="minkowski", p=3, metric_params={"w": np.array([0.0, 1.0])}),
    dict(metric="minkowski", p=0.5, eps=1.2), dict(metric="cosine", eps=0.001),
    dict(metric="haversine", eps=0.05), dict(metric="l2"), dict(p=1),
    dict(algorithm="brute"), dict(algorithm="ball_tree"), dict(algorithm="kd_tree"),
])
def test_metrics(params):
    X = _blobs_with_noise(600, 2, seed=5) / 8
    assert_same_clustering(X, **{"eps": 0.3, "min_samples": 5, **params})


def test_integers_and_booleans_as_input():
    X = np.random.RandomState(2).randint(0, 6, size=(300, 3))
    assert_same_clustering(X, eps=1.0, min_samples=4)
    assert_same_clustering(X > 2, eps=1.0, min_samples=4)


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "cosine"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_input(metric, dtype):
    X = sp.random(400, 20, density=0.15, random_state=0, format="csr", dtype=dtype) * 3
    eps = {"euclidean": 1.5, "manhattan": 3.0, "cosine": 0.5}[metric]
    assert_same_clustering(X, eps=eps, min_samples=3, metric=metric)
    assert_same_clustering(X.tocsc(), eps=eps, min_samples=3, metric=metric)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_precomputed_dense(dtype):
    X = _blobs_with_noise(400, 2, seed=6)
    D = pairwise_distances(X).astype(dtype)
    weight = np.random.RandomState(0).uniform(0.5, 1.5, len(X))
    assert_same_clustering(D, eps=0.3, min_samples=5, metric="precomputed")
    assert_same_clustering(D, weight, eps=0.3, min_samples=5, metric="precomputed")


def test_precomputed_not_symmetric():
    # Whether j is i's neighbour does not say whether i is j's: labels follow scikit-learn's
    # walk (the order of core points, the direction of the rows).
    rng = np.random.RandomState(7)
    D = rng.uniform(size=(200, 200))
    np.fill_diagonal(D, 0.0)
    for eps, min_samples in [(0.02, 3), (0.04, 5), (0.1, 18)]:
        assert_same_clustering(D, eps=eps, min_samples=min_samples, metric="precomputed")
        graph = sp.csr_matrix(np.where(D <= 2 * eps, D, 0.0))
        assert_same_clustering(graph, eps=eps, min_samples=min_samples, metric="precomputed")


def test_precomputed_sparse_radius_graph():
    X = _blobs_with_noise(500, 2, seed=8)
    graph = radius_neighbors_graph(X, 0.5, mode="distance")
    for eps in (0.2, 0.5, 1.0):
        assert_same_clustering(graph, eps=eps, min_samples=5, metric="precomputed")
    # Unsorted rows (scikit-learn sorts them, warning about it) and explicit zeros.
    shuffled = graph.copy()
    shuffled.data[:20] = 0.0
    assert_same_clustering(shuffled, eps=0.3, min_samples=4, metric="precomputed")


def test_dbscan_function_matches():
    X = _blobs_with_noise(400, 2, seed=9)
    ours = dbscan(X, eps=0.3, min_samples=4)
    theirs = cluster.dbscan(X, eps=0.3, min_samples=4)
    for a, b in zip(ours, theirs):
        assert_array_equal(a, b)


@pytest.mark.parametrize("params", [
    dict(eps=0.0), dict(eps=-1.0), dict(min_samples=0), dict(metric="bogus"),
    dict(metric="cosine", algorithm="kd_tree"), dict(metric="haversine", algorithm="kd_tree"),
    dict(p=0), dict(p=-1), dict(metric="minkowski"),
    dict(metric="minkowski", p=0.5, algorithm="kd_tree"),
    dict(metric="minkowski", p=3, metric_params={"w": np.ones(2)}, algorithm="kd_tree"),
    dict(metric="minkowski", p=3, metric_params={"w": np.ones(5)}),
    dict(metric="minkowski", p=3, metric_params={"w": -np.ones(2)}),
    dict(metric="minkowski", p=np.inf, metric_params={"w": np.ones(2)}),
    dict(metric="haversine", X=np.ones((10, 3))), dict(algorithm="bogus"), dict(leaf_size=0),
    dict(X=np.array([[0.0, np.nan]] * 5)), dict(X=np.array([[0.0, np.inf]] * 5)),
    dict(X=np.empty((0, 2))), dict(X=np.ones(5)), dict(sample_weight=np.ones(3)),
    dict(metric="precomputed", X=np.ones((4, 5))),
    dict(metric="precomputed", X=-np.ones((4, 4))),
    dict(metric="precomputed", X=sp.csr_matrix(-np.eye(4))),
    dict(metric="haversine", X=sp.csr_matrix(np.ones((4, 2)))),
])
def test_errors_match_sklearn(params):
    X = params.pop("X", np.random.RandomState(0).uniform(size=(30, 2)))
    sample_weight = params.pop("sample_weight", None)

    def call(impl):
        cls = cluster.DBSCAN if impl == "sklearn" else DBSCAN
        return cls(**params).fit(X, sample_weight=sample_weight)

    assert_same_error(call)


def test_sparse_input_with_a_tree_algorithm_warns_as_sklearn():
    X = sp.random(100, 5, density=0.3, random_state=0, format="csr")
    assert_same_clustering(X, eps=0.5, min_samples=2, algorithm="kd_tree")


def test_metric_not_computed_in_rust_falls_back_with_a_logged_reason(caplog):
    X = _blobs_with_noise(300, 3, seed=10)
    cases = [
        dict(metric=lambda a, b: np.abs(a - b).max()),
        dict(metric="mahalanobis", metric_params={"V": np.eye(3)}),
        dict(metric="canberra"),
    ]
    for params in cases:
        with caplog.at_level(logging.INFO, logger="sklearn_rs"):
            caplog.clear()
            assert_same_clustering(X, eps=0.5, min_samples=4, **params)
        assert "DBSCAN: falling back to scikit-learn for this call" in caplog.text


def test_same_labels_for_any_thread_count_and_n_jobs():
    X = _blobs_with_noise(30000, 3, seed=11)
    with threadpool_limits(1):
        one = DBSCAN(eps=0.2, min_samples=5).fit(X)
    for n_jobs in (None, 2, -1):
        other = DBSCAN(eps=0.2, min_samples=5, n_jobs=n_jobs).fit(X)
        assert_array_equal(other.labels_, one.labels_)
        assert_array_equal(other.core_sample_indices_, one.core_sample_indices_)


def test_patched_sklearn_names_are_ours():
    with sklearn_rs.patched(["DBSCAN", "dbscan"]):
        from sklearn.cluster import DBSCAN as Patched, dbscan as patched_function

        assert Patched is DBSCAN and patched_function is dbscan
