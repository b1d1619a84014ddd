"""The Rust k-d tree against scikit-learn's KDTree: the same neighbours in the same order (ties
included) and the same distances bit for bit, for the metrics, dtypes and leaf sizes scikit-learn's
tree takes; ``algorithm="auto"`` picks it exactly where scikit-learn picks its own."""

import pickle

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier as SkKNeighborsClassifier
from sklearn.neighbors import NearestNeighbors as SkNearestNeighbors
from sklearn.neighbors import kneighbors_graph as sk_kneighbors_graph

from sklearn_rs import KNeighborsClassifier, NearestNeighbors, kneighbors_graph
from skrs_utils import tree_rows

METRICS = [
    {},
    {"metric": "manhattan"},
    {"metric": "chebyshev"},
    {"metric": "minkowski", "p": 3},
    {"metric": "l1"},
    {"p": 1.5},
]


def _data(kind, n, d, seed):
    rng = np.random.RandomState(seed)
    if kind == "normal":
        return rng.randn(n, d)
    if kind == "grid":  # many exactly equal distances and duplicated rows
        return rng.randint(0, 3, size=(n, d)).astype(np.float64)
    return np.round(rng.randn(n, d), 1)  # some duplicates, many near ties


def _assert_same(ours, theirs, queries, k=None):
    d1, i1 = ours.kneighbors(queries, k)
    d2, i2 = theirs.kneighbors(queries, k)
    assert d1.dtype == d2.dtype and i1.dtype == i2.dtype and d1.shape == d2.shape
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(d1, d2)


@pytest.mark.parametrize("params", METRICS, ids=str)
@pytest.mark.parametrize("kind", ["normal", "grid", "rounded"])
@pytest.mark.parametrize("leaf_size", [1, 4, 30])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kneighbors_equal_sklearn_kd_tree(params, kind, leaf_size, dtype):
    X = _data(kind, 500, 3, seed=leaf_size).astype(dtype)
    Q = _data(kind, 60, 3, seed=leaf_size + 1).astype(dtype)
    ours = NearestNeighbors(n_neighbors=7, algorithm="kd_tree", leaf_size=leaf_size, **params)
    theirs = SkNearestNeighbors(n_neighbors=7, algorithm="kd_tree", leaf_size=leaf_size, **params)
    ours.fit(X)
    theirs.fit(X)
    assert ours._rs_tree is not None  # ours, not scikit-learn's tree
    assert ours._fit_method == theirs._fit_method == "kd_tree"
    for queries in (Q, X[::7], None):  # None: the fitted samples, each without itself
        _assert_same(ours, theirs, queries)
    _assert_same(ours, theirs, Q, k=500)  # k up to n
    _assert_same(ours, theirs, None, k=499)


@pytest.mark.parametrize("n, d", [(1, 1), (2, 2), (17, 1), (64, 5), (300, 12)])
def test_small_and_wide_trees(n, d):
    X = _data("rounded", n, d, seed=n)
    ours = NearestNeighbors(n_neighbors=1, algorithm="kd_tree", leaf_size=2).fit(X)
    theirs = SkNearestNeighbors(n_neighbors=1, algorithm="kd_tree", leaf_size=2).fit(X)
    for k in sorted({1, n}):
        _assert_same(ours, theirs, X, k=k)


@pytest.mark.parametrize("d", [1, 3, 4, 5, 9])  # rows carried through the partition for d <= 4
@pytest.mark.parametrize("kind", ["normal", "grid"])
@pytest.mark.parametrize("leaf_size", [1, 7, 40])
def test_built_tree_is_sklearn_kd_tree(d, kind, leaf_size):
    """The tree itself: the same sample order in every node (ties by index), node ranges and
    node bounds as scikit-learn's KDTree, on data where many values tie."""
    from sklearn.neighbors import KDTree

    from sklearn_rs import _core

    X = _data(kind, 3000, d, seed=d)
    data, idx, nodes, bounds = _core.kd_tree_build(X, leaf_size, 1)
    theirs = KDTree(X, leaf_size=leaf_size)
    their_data, their_idx, their_nodes, their_bounds = theirs.get_arrays()
    np.testing.assert_array_equal(idx, their_idx)
    np.testing.assert_array_equal(tree_rows(data, nodes, d), X[idx])
    their_triples = np.stack(
        [their_nodes["idx_start"], their_nodes["idx_end"], their_nodes["is_leaf"]], axis=1
    )
    np.testing.assert_array_equal(nodes.reshape(-1, 3), their_triples)
    np.testing.assert_array_equal(bounds.transpose(1, 0, 2), their_bounds)


@pytest.mark.parametrize(
    "shape, params",
    [
        ((200, 3), {}),  # kd_tree
        ((200, 15), {"metric": "chebyshev"}),  # kd_tree
        ((200, 16), {}),  # brute: too many features
        ((200, 3), {"n_neighbors": 100}),  # brute: n_neighbors >= n / 2
        ((200, 3), {"metric": "cosine"}),  # brute: not a tree metric
        ((200, 3), {"p": 0.5}),  # brute: semi-metric
        ((200, 3), {"metric": "minkowski", "metric_params": {"w": np.arange(1.0, 4.0)}}),
    ],
)
@pytest.mark.filterwarnings("ignore:Mind that for 0 < p < 1")
def test_auto_chooses_as_sklearn(shape, params):
    X = np.random.RandomState(0).randn(*shape)
    params.setdefault("n_neighbors", 5)
    ours = NearestNeighbors(**params).fit(X)
    theirs = SkNearestNeighbors(**params).fit(X)
    assert ours._fit_method == theirs._fit_method
    if ours._fit_method == "kd_tree":
        _assert_same(ours, theirs, X[:20])
    else:  # brute force: distances agree to rounding (see test_neighbors_equivalence.py)
        d1, i1 = ours.kneighbors(X[:20] + 0.01)
        d2, i2 = theirs.kneighbors(X[:20] + 0.01)
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_allclose(d1, d2, rtol=1e-10)


def test_any_thread_count_gives_the_same_bits():
    X = _data("grid", 3000, 3, seed=1)  # ties everywhere: the traversal order shows
    results = []
    for n_jobs in (1, 2, 3):
        nn = NearestNeighbors(n_neighbors=9, algorithm="kd_tree", leaf_size=5, n_jobs=n_jobs)
        results.append(nn.fit(X).kneighbors(X[:500]))
    for dist, ind in results[1:]:
        np.testing.assert_array_equal(dist, results[0][0])
        np.testing.assert_array_equal(ind, results[0][1])


def test_classifier_and_graph_on_kd_tree():
    rng = np.random.RandomState(5)
    X = np.round(rng.randn(400, 4), 1)
    y = rng.randint(0, 3, 400)
    for weights in ("uniform", "distance"):
        ours = KNeighborsClassifier(6, weights=weights).fit(X, y)
        theirs = SkKNeighborsClassifier(6, weights=weights).fit(X, y)
        assert ours._fit_method == theirs._fit_method == "kd_tree"
        np.testing.assert_array_equal(ours.predict(X[:100] + 0.05), theirs.predict(X[:100] + 0.05))
        np.testing.assert_allclose(ours.predict_proba(X[:100] + 0.05),
                                   theirs.predict_proba(X[:100] + 0.05), rtol=1e-12)
    g1 = kneighbors_graph(X, 5, mode="distance")
    g2 = sk_kneighbors_graph(X, 5, mode="distance")
    assert (g1 != g2).nnz == 0


def test_pickled_tree_answers_the_same():
    X = _data("normal", 400, 3, seed=9)
    ours = NearestNeighbors(n_neighbors=4, algorithm="kd_tree").fit(X)
    clone = pickle.loads(pickle.dumps(ours))
    d1, i1 = ours.kneighbors(X[:50])
    d2, i2 = clone.kneighbors(X[:50])
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(d1, d2)


def test_sklearn_errors_kept():
    X = np.random.RandomState(0).randn(50, 3)
    w = {"w": np.ones(3)}
    for est in (NearestNeighbors, SkNearestNeighbors):
        with pytest.raises(ValueError, match="not valid for metric='minkowski' with a weight"):
            est(algorithm="kd_tree", metric="minkowski", metric_params=w).fit(X)
        with pytest.raises(ValueError, match='algorithm="kd_tree" does not support 0 < p < 1'):
            est(algorithm="kd_tree", p=0.5).fit(X)
        with pytest.raises(ValueError, match="Metric 'cosine' not valid"):
            est(algorithm="kd_tree", metric="cosine").fit(X)
        nn = est(algorithm="kd_tree").fit(X)
        with pytest.raises(ValueError, match="kd_tree does not work with sparse matrices"):
            import scipy.sparse as sp

            nn.kneighbors(sp.csr_matrix(X))
