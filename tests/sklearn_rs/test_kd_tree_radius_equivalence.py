"""Radius queries on the Rust k-d tree against scikit-learn's ``KDTree.query_radius``: the same
neighbours in the same order (its depth-first order, or its sort of the distances, ties
included) and the same distances bit for bit, for the metrics, dtypes and leaf sizes its tree
takes; the radius estimators, transformer and graph on a k-d tree as scikit-learn's."""

import logging
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import neighbors as sk

import sklearn_rs
from sklearn_rs import (
    NearestNeighbors,
    RadiusNeighborsClassifier,
    RadiusNeighborsRegressor,
    RadiusNeighborsTransformer,
    radius_neighbors_graph,
)

METRICS = [
    {},
    {"metric": "manhattan"},
    {"metric": "chebyshev"},
    {"metric": "minkowski", "p": 3},
    {"p": 1.5},
]


def _data(kind, n, d, seed):
    rng = np.random.RandomState(seed)
    if kind == "normal":
        return rng.randn(n, d)
    if kind == "grid":  # many exactly equal distances, duplicated rows, samples exactly at r
        return rng.randint(0, 3, size=(n, d)).astype(np.float64)
    return np.round(rng.randn(n, d), 1)  # some duplicates, many near ties


def _radius(kind, X, params):
    """1 on the integer grid (samples exactly at the radius); otherwise a distance that
    scikit-learn's tree reports (a sample exactly at it), about 10 neighbours."""
    if kind == "grid":
        return 1.0
    nn = sk.NearestNeighbors(n_neighbors=10, algorithm="kd_tree", **params).fit(X)
    return float(nn.kneighbors(X[:1])[0][0, -1])


def _assert_same_lists(ours, theirs):
    assert ours.dtype == theirs.dtype == object and ours.shape == theirs.shape
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def _assert_same(ours, theirs, queries, radius, sort_results):
    d1, i1 = ours.radius_neighbors(queries, radius, sort_results=sort_results)
    d2, i2 = theirs.radius_neighbors(queries, radius, sort_results=sort_results)
    _assert_same_lists(i1, i2)
    _assert_same_lists(d1, d2)
    _assert_same_lists(ours.radius_neighbors(queries, radius, return_distance=False),
                       theirs.radius_neighbors(queries, radius, return_distance=False))


def _pair(cls, **params):
    params.setdefault("algorithm", "kd_tree")
    return getattr(sklearn_rs, cls)(**params), getattr(sk, cls)(**params)


@pytest.mark.parametrize("params", METRICS, ids=str)
@pytest.mark.parametrize("kind", ["normal", "grid", "rounded"])
@pytest.mark.parametrize("leaf_size", [1, 4, 30])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_radius_neighbors_equal_sklearn_kd_tree(params, kind, leaf_size, dtype):
    X = _data(kind, 400, 3, seed=leaf_size).astype(dtype)
    Q = _data(kind, 40, 3, seed=leaf_size + 1).astype(dtype)
    radius = _radius(kind, X.astype(np.float64), params)
    ours, theirs = _pair("NearestNeighbors", leaf_size=leaf_size, radius=radius, **params)
    ours.fit(X)
    theirs.fit(X)
    assert ours._rs_tree is not None and getattr(ours, "_tree", None) is None
    assert ours._fit_method == theirs._fit_method == "kd_tree"
    for queries in (Q, X[::9], None):  # None: the fitted samples, each without itself
        for sort_results in (False, True):
            _assert_same(ours, theirs, queries, None, sort_results)
    _assert_same(ours, theirs, Q, 2.5 * radius, True)  # nodes taken whole
    assert getattr(ours, "_tree", None) is None  # scikit-learn's tree never built


@pytest.mark.parametrize("params", METRICS[:4], ids=str)
def test_empty_zero_and_infinite_radii(params):
    X = _data("grid", 300, 2, seed=4)
    ours, theirs = _pair("NearestNeighbors", leaf_size=5, **params)
    ours.fit(X)
    theirs.fit(X)
    far = X[:10] + 100.0
    for queries, radius in [(far, 1.0), (X[:20], 0.0), (None, 0.0), (X[:5], np.inf),
                            (X[:5], 1e300), (X[:5], -1.0)]:
        for sort_results in (False, True):
            _assert_same(ours, theirs, queries, radius, sort_results)
    assert all(len(ind) == 0 for ind in ours.radius_neighbors(far, 1.0, return_distance=False))


def test_wide_small_and_single_sample_trees():
    for n, d in [(1, 1), (2, 2), (17, 1), (64, 5), (300, 12)]:
        X = _data("rounded", n, d, seed=n)
        ours, theirs = _pair("NearestNeighbors", leaf_size=2, radius=1.0)
        ours.fit(X)
        theirs.fit(X)
        for queries in (X, None):
            _assert_same(ours, theirs, queries, 1.5, True)
            _assert_same(ours, theirs, queries, 1.5, False)


def test_any_thread_count_gives_the_same_bits():
    X = _data("grid", 3000, 3, seed=1)  # ties everywhere: the traversal order shows
    results = []
    for n_jobs in (1, 2):
        nn = NearestNeighbors(radius=1.0, algorithm="kd_tree", leaf_size=5, n_jobs=n_jobs)
        nn.fit(X)
        results.append(nn.radius_neighbors(X[:700]) + nn.radius_neighbors(None, 1.0, True, True))
    for ours, first in zip(results[1], results[0]):
        _assert_same_lists(ours, first)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["connectivity", "distance"])
def test_radius_neighbors_graph_equals_sklearn(dtype, mode):
    X = _data("rounded", 300, 3, seed=6).astype(dtype)
    ours, theirs = _pair("NearestNeighbors", radius=0.7)
    ours.fit(X)
    theirs.fit(X)
    for queries in (X[:40] + 0.05, None):
        for sort_results in (False, True):
            g1 = ours.radius_neighbors_graph(queries, mode=mode, sort_results=sort_results)
            g2 = theirs.radius_neighbors_graph(queries, mode=mode, sort_results=sort_results)
            assert type(g1) is type(g2) and g1.dtype == g2.dtype
            np.testing.assert_array_equal(g1.indptr, g2.indptr)
            np.testing.assert_array_equal(g1.indices, g2.indices)
            np.testing.assert_array_equal(g1.data, g2.data)
    # The function: algorithm "auto" picks the k-d tree for 3 features, as scikit-learn's.
    for include_self in (False, True):
        g1 = radius_neighbors_graph(X, 0.7, mode=mode, include_self=include_self)
        g2 = sk.radius_neighbors_graph(X, 0.7, mode=mode, include_self=include_self)
        np.testing.assert_array_equal(g1.indices, g2.indices)
        np.testing.assert_array_equal(g1.data, g2.data)


def _same_outcome(ours, theirs):
    """Runs ``ours()`` and ``theirs()``: the same result (or error) and warnings."""
    results = []
    for call in (ours, theirs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = ("ok", call())
            except ValueError as e:
                result = ("error", str(e))
        results.append((result, sorted(str(w.message) for w in caught)))
    (r1, w1), (r2, w2) = results
    assert r1[0] == r2[0] and w1 == w2
    if r1[0] == "ok":
        assert r1[1].dtype == r2[1].dtype
        np.testing.assert_array_equal(r1[1], r2[1])
    else:
        assert r1[1] == r2[1]


@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("algorithm", ["kd_tree", "auto"])
@pytest.mark.parametrize("outlier_label", [None, "most_frequent", 1])
def test_radius_estimators_on_a_kd_tree_equal_sklearn(weights, algorithm, outlier_label):
    rng = np.random.RandomState(7)
    X = np.round(rng.randn(300, 3), 1)
    y = rng.randint(0, 3, 300)
    target = np.c_[X[:, 0] - X[:, 1], X[:, 2]]
    Q = np.r_[X[:30] + 0.05, rng.randn(10, 3) * 4]  # some far out: outliers
    params = dict(radius=0.6, weights=weights, algorithm=algorithm)
    ours, theirs = _pair("RadiusNeighborsClassifier", outlier_label=outlier_label, **params)
    ours.fit(X, y)
    theirs.fit(X, y)
    assert ours._rs_tree is not None and ours._fit_method == theirs._fit_method == "kd_tree"
    for queries in (Q, None):
        _same_outcome(lambda: ours.predict_proba(queries), lambda: theirs.predict_proba(queries))
        _same_outcome(lambda: ours.predict(queries), lambda: theirs.predict(queries))
    for y_reg in (target[:, 0], target):
        ours, theirs = _pair("RadiusNeighborsRegressor", **params)
        ours.fit(X, y_reg)
        theirs.fit(X, y_reg)
        assert ours._rs_tree is not None
        for queries in (Q, None):
            _same_outcome(lambda: ours.predict(queries), lambda: theirs.predict(queries))


@pytest.mark.parametrize("mode", ["connectivity", "distance"])
def test_transformer_on_a_kd_tree_equals_sklearn(mode):
    X = _data("rounded", 200, 3, seed=8)
    ours = RadiusNeighborsTransformer(radius=0.8, mode=mode).fit(X)  # auto: the k-d tree
    theirs = sk.RadiusNeighborsTransformer(radius=0.8, mode=mode).fit(X)
    assert ours._rs_tree is not None and ours._fit_method == theirs._fit_method == "kd_tree"
    for queries in (X[:50] + 0.05, X):
        g1, g2 = ours.transform(queries), theirs.transform(queries)
        np.testing.assert_array_equal(g1.indptr, g2.indptr)
        np.testing.assert_array_equal(g1.indices, g2.indices)
        np.testing.assert_array_equal(g1.data, g2.data)


def test_radius_estimators_no_longer_fall_back(caplog):
    X = _data("normal", 200, 3, seed=2)
    y = np.arange(200) % 2
    with caplog.at_level(logging.INFO, logger="sklearn_rs"):
        clf = RadiusNeighborsClassifier(radius=1.0, algorithm="kd_tree").fit(X, y)
        reg = RadiusNeighborsRegressor(radius=1.0).fit(X, y.astype(float))
        nn = NearestNeighbors(radius=1.0, algorithm="kd_tree").fit(X)
        clf.predict(X[:20])
        reg.predict(X[:20])
        nn.radius_neighbors(X[:20])
        nn.radius_neighbors_graph(X[:20])
    assert "scikit-learn" not in caplog.text
    for est in (clf, reg, nn):
        assert est._rs_tree is not None and getattr(est, "_tree", None) is None


def test_one_radius_per_query_on_our_tree():
    X = _data("rounded", 200, 3, seed=3)
    ours, theirs = _pair("NearestNeighbors", radius=0.5)
    ours.fit(X)
    theirs.fit(X)
    radii = np.linspace(0.1, 1.0, 20)
    d1, i1 = ours.radius_neighbors(X[:20], radii, sort_results=True)
    d2, i2 = theirs.radius_neighbors(X[:20], radii, sort_results=True)
    _assert_same_lists(i1, i2)
    _assert_same_lists(d1, d2)
    assert getattr(ours, "_tree", None) is None  # scikit-learn's tree never built


def test_pickled_tree_answers_radius_queries_the_same():
    X = _data("normal", 300, 3, seed=9)
    ours = NearestNeighbors(radius=0.6, algorithm="kd_tree").fit(X)
    clone = pickle.loads(pickle.dumps(ours))
    _assert_same(ours, clone, X[:40], None, True)


def test_sklearn_errors_kept():
    X = _data("normal", 50, 3, seed=0)
    for est in (NearestNeighbors, sk.NearestNeighbors):
        nn = est(algorithm="kd_tree", radius=1.0).fit(X)
        with pytest.raises(ValueError, match="return_distance must be True"):
            nn.radius_neighbors(X, return_distance=False, sort_results=True)
        with pytest.raises(ValueError, match="kd_tree does not work with sparse matrices"):
            nn.radius_neighbors(sp.csr_matrix(X))
        with pytest.raises(ValueError, match="X has 2 features"):
            nn.radius_neighbors(X[:, :2])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    n=st.integers(1, 120),
    d=st.integers(1, 4),
    scale=st.sampled_from([1.0, 0.5, 1e-3, 1e6]),
    levels=st.integers(2, 6),
    leaf_size=st.integers(1, 12),
    params=st.sampled_from(METRICS),
    radius=st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0]),
    seed=st.integers(0, 2**16),
)
def test_fuzzed_grids_equal_sklearn(n, d, scale, levels, leaf_size, params, radius, seed):
    # Few distinct values: exact ties, duplicates and samples exactly at the radius.
    rng = np.random.RandomState(seed)
    X = rng.randint(0, levels, size=(n, d)) * scale
    Q = rng.randint(0, levels, size=(7, d)) * scale
    ours, theirs = _pair("NearestNeighbors", leaf_size=leaf_size, **params)
    ours.fit(X)
    theirs.fit(X)
    for queries in (Q, None):
        _assert_same(ours, theirs, queries, radius * scale, True)
        _assert_same(ours, theirs, queries, radius * scale, False)
