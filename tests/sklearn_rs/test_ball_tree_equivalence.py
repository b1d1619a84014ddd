"""The Rust ball tree against scikit-learn's ``BallTree``: the same built arrays
(``get_arrays``), and on a ball-tree fit the same ``kneighbors`` / ``radius_neighbors``
neighbours in the same order (ties included) and the same distances bit for bit, for every
metric our tree computes; one radius per query on both trees; the estimators built on it."""

import logging
import pickle

import numpy as np
import pytest
from sklearn import neighbors as sk

import sklearn_rs
from sklearn_rs import NearestNeighbors
from sklearn_rs._metrics import resolve_metric
from sklearn_rs._threads import _core
from skrs_utils import tree_rows

WEIGHTS = np.array([0.5, 2.0, 1.0, 0.25, 3.0, 1.5, 0.75, 1.25, 2.5])
METRICS = [
    {},
    {"metric": "manhattan"},
    {"metric": "chebyshev"},
    {"metric": "minkowski", "p": 3},
    {"p": 1.5},
    {"metric": "minkowski", "p": 2, "metric_params": {"w": WEIGHTS}},
    {"metric": "minkowski", "p": 1.5, "metric_params": {"w": WEIGHTS}},
]


def _data(kind, n, d, seed):
    rng = np.random.RandomState(seed)
    if kind == "normal":
        return rng.randn(n, d)
    if kind == "grid":  # many exactly equal distances and duplicated rows
        return rng.randint(0, 3, size=(n, d)).astype(np.float64)
    if kind == "geo":  # (latitude, longitude) in radians, rounded: ties
        return np.round(np.c_[rng.uniform(-1.5, 1.5, n), rng.uniform(-3, 3, n)], 2)
    return np.round(rng.randn(n, d), 1)


def _params(params, d):
    """``params`` with the weights cut to ``d`` features."""
    params = dict(params)
    if "metric_params" in params:
        params["metric_params"] = {"w": WEIGHTS[:d]}
    return params


def _pair(cls, **params):
    params.setdefault("algorithm", "ball_tree")
    return getattr(sklearn_rs, cls)(**params), getattr(sk, cls)(**params)


def _assert_same_lists(ours, theirs):
    assert ours.dtype == theirs.dtype == object and ours.shape == theirs.shape
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["normal", "grid"])
@pytest.mark.parametrize("d", [1, 2, 3, 5, 9])
@pytest.mark.parametrize("leaf_size", [1, 7, 40])
def test_built_tree_is_sklearn_ball_tree(kind, d, leaf_size):
    X = _data(kind, 600, d, seed=d + leaf_size)
    cases = METRICS + ([{"metric": "haversine"}] if d == 2 else [])
    for params in cases:
        params = _params(params, d)
        metric = params.get("metric", "minkowski")
        kw = {"p": params.get("p", 2), **params.get("metric_params", {})}
        if metric != "minkowski":
            kw = {}
        theirs = sk.BallTree(X, leaf_size, metric=metric, **kw)
        idx, node_data, node_bounds = theirs.get_arrays()[1:4]
        spec = resolve_metric(metric, params.get("p", 2), params.get("metric_params"))
        data, ours_idx, nodes, centroids, radii = _core.ball_tree_build(X, leaf_size, spec, 2)
        np.testing.assert_array_equal(ours_idx, idx)
        np.testing.assert_array_equal(tree_rows(data, nodes, d), X[idx])
        np.testing.assert_array_equal(nodes[:, 0], node_data["idx_start"])
        np.testing.assert_array_equal(nodes[:, 1], node_data["idx_end"])
        np.testing.assert_array_equal(nodes[:, 2], node_data["is_leaf"])
        # Bit for bit: the centroid sums in scikit-learn's order, the radii as it finds them.
        assert centroids.tobytes() == node_bounds[0].tobytes()
        assert radii.tobytes() == node_data["radius"].tobytes()


def _cases():
    for params in METRICS:
        for kind in ("normal", "grid", "rounded"):
            yield params, kind, 5
    yield {"metric": "haversine"}, "geo", 2
    yield {"metric": "haversine"}, "normal", 2


@pytest.mark.parametrize("params, kind, d", list(_cases()), ids=str)
@pytest.mark.parametrize("leaf_size", [1, 7, 40])
def test_queries_equal_sklearn_ball_tree(params, kind, d, leaf_size):
    params = _params(params, d)
    if kind == "geo":
        X, Q = _data(kind, 500, d, seed=leaf_size), _data(kind, 40, d, seed=leaf_size + 1)
    else:
        X, Q = _data(kind, 500, d, seed=leaf_size), _data(kind, 40, d, seed=leaf_size + 1)
    ours, theirs = _pair("NearestNeighbors", n_neighbors=6, leaf_size=leaf_size, **params)
    ours.fit(X)
    theirs.fit(X)
    assert ours._fit_method == theirs._fit_method == "ball_tree"
    assert ours._rs_tree is not None
    for queries in (Q, None):
        d1, i1 = ours.kneighbors(queries)
        d2, i2 = theirs.kneighbors(queries)
        np.testing.assert_array_equal(i1, i2)
        assert d1.dtype == d2.dtype and d1.tobytes() == d2.tobytes()
    radius = float(np.median(theirs.kneighbors(Q)[0][:, 3]))
    radii = np.linspace(0.2, 2.0, len(Q)) * radius
    for queries, r in ((Q, radius), (None, radius), (Q, 3 * radius), (Q, radii)):
        for sort_results in (False, True):
            d1, i1 = ours.radius_neighbors(queries, r, sort_results=sort_results)
            d2, i2 = theirs.radius_neighbors(queries, r, sort_results=sort_results)
            _assert_same_lists(i1, i2)
            _assert_same_lists(d1, d2)
        _assert_same_lists(ours.radius_neighbors(queries, r, return_distance=False),
                           theirs.radius_neighbors(queries, r, return_distance=False))
    assert getattr(ours, "_tree", None) is None  # scikit-learn's tree never built


@pytest.mark.parametrize("params, d", [({"metric": "minkowski", "metric_params": {"w": WEIGHTS[:4]}}, 4),
                                       ({"metric": "haversine"}, 2),
                                       ({"metric": "chebyshev"}, 3)], ids=str)
def test_auto_builds_our_ball_tree_where_sklearn_does(params, d):
    X = _data("geo" if d == 2 else "rounded", 300, d, seed=3)
    ours, theirs = _pair("NearestNeighbors", n_neighbors=4, algorithm="auto", **params)
    ours.fit(X)
    theirs.fit(X)
    assert ours._fit_method == theirs._fit_method
    assert ours._rs_tree is not None
    d1, i1 = ours.kneighbors(X[:30])
    d2, i2 = theirs.kneighbors(X[:30])
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(d1, d2)


@pytest.mark.parametrize("algorithm", ["kd_tree", "ball_tree"])
def test_one_radius_per_query_on_both_trees(algorithm, caplog):
    X = _data("grid", 400, 3, seed=5)
    ours, theirs = _pair("NearestNeighbors", radius=1.0, algorithm=algorithm)
    ours.fit(X)
    theirs.fit(X)
    radii = np.tile([0.0, 1.0, 1.5, 2.0], 10)
    with caplog.at_level(logging.INFO, logger="sklearn_rs"):
        for queries, r in ((X[:40], radii), (None, np.resize(radii, 400)), (X[:40], list(radii))):
            for sort_results in (False, True):
                d1, i1 = ours.radius_neighbors(queries, r, sort_results=sort_results)
                d2, i2 = theirs.radius_neighbors(queries, r, sort_results=sort_results)
                _assert_same_lists(i1, i2)
                _assert_same_lists(d1, d2)
            for mode in ("connectivity", "distance"):
                g1 = ours.radius_neighbors_graph(queries, r, mode=mode)
                g2 = theirs.radius_neighbors_graph(queries, r, mode=mode)
                np.testing.assert_array_equal(g1.indptr, g2.indptr)
                np.testing.assert_array_equal(g1.indices, g2.indices)
                np.testing.assert_array_equal(g1.data, g2.data)
    assert "scikit-learn" not in caplog.text and getattr(ours, "_tree", None) is None
    # Other shapes are scikit-learn's code, with its errors.
    for r in (radii[:39], radii.reshape(-1, 1)):
        for est in (ours, theirs):
            with pytest.raises(ValueError, match="r must be broadcastable to X.shape"):
                est.radius_neighbors(X[:40], r)


def test_one_radius_per_query_by_brute_force_raises_sklearn_error():
    X = _data("normal", 50, 3, seed=1)
    for est in (NearestNeighbors, sk.NearestNeighbors):
        nn = est(algorithm="brute").fit(X)
        with pytest.raises(TypeError):
            nn.radius_neighbors(X, np.full(50, 0.5))


def test_graphs_and_predictions_equal_sklearn():
    rng = np.random.RandomState(7)
    X = np.round(rng.randn(300, 3), 1)
    y = rng.randint(0, 3, 300)
    target = X[:, 0] - X[:, 1]
    Q = np.r_[X[:30] + 0.05, rng.randn(10, 3) * 4]
    w = {"w": WEIGHTS[:3]}
    for params in ({}, {"metric": "manhattan"}, {"metric": "minkowski", "metric_params": w}):
        for weights in ("uniform", "distance"):
            for cls, fit_y, extra in (("KNeighborsClassifier", y, {}),
                                      ("KNeighborsRegressor", target, {}),
                                      ("RadiusNeighborsClassifier", y, {"radius": 0.8,
                                                                        "outlier_label": 1}),
                                      ("RadiusNeighborsRegressor", target, {"radius": 0.8})):
                ours, theirs = _pair(cls, weights=weights, **extra, **params)
                ours.fit(X, fit_y)
                theirs.fit(X, fit_y)
                assert ours._rs_tree is not None
                np.testing.assert_array_equal(ours.predict(Q), theirs.predict(Q))
                if hasattr(theirs, "predict_proba"):
                    np.testing.assert_array_equal(ours.predict_proba(Q), theirs.predict_proba(Q))
        ours, theirs = _pair("NearestNeighbors", n_neighbors=5, radius=0.7, **params)
        ours.fit(X)
        theirs.fit(X)
        for mode in ("connectivity", "distance"):
            for queries in (Q, None):
                for g1, g2 in ((ours.kneighbors_graph(queries, mode=mode),
                                theirs.kneighbors_graph(queries, mode=mode)),
                               (ours.radius_neighbors_graph(queries, mode=mode, sort_results=True),
                                theirs.radius_neighbors_graph(queries, mode=mode,
                                                              sort_results=True))):
                    np.testing.assert_array_equal(g1.indptr, g2.indptr)
                    np.testing.assert_array_equal(g1.indices, g2.indices)
                    np.testing.assert_array_equal(g1.data, g2.data)


def test_any_thread_count_gives_the_same_bits():
    X = _data("grid", 3000, 3, seed=1)  # ties everywhere: the traversal order shows
    results = []
    for n_jobs in (1, 2):
        nn = NearestNeighbors(n_neighbors=8, radius=1.0, algorithm="ball_tree", leaf_size=5,
                              n_jobs=n_jobs).fit(X)
        results.append([*nn.kneighbors(X[:1500]), nn._rs_tree[4],
                        *nn.radius_neighbors(X[:700], sort_results=True)])
    for ours, first in zip(results[1], results[0]):
        if ours.dtype == object:
            _assert_same_lists(ours, first)
        else:
            np.testing.assert_array_equal(ours, first)


def test_pickled_tree_answers_the_same():
    X = _data("normal", 300, 3, seed=9)
    ours = NearestNeighbors(n_neighbors=3, radius=0.6, algorithm="ball_tree").fit(X)
    clone = pickle.loads(pickle.dumps(ours))
    for a, b in zip(ours.kneighbors(X[:40]), clone.kneighbors(X[:40])):
        np.testing.assert_array_equal(a, b)
    _assert_same_lists(ours.radius_neighbors(X[:40])[1], clone.radius_neighbors(X[:40])[1])


def test_other_metrics_fall_back_with_a_reason(caplog):
    X = _data("normal", 100, 3, seed=2)
    with caplog.at_level(logging.INFO, logger="sklearn_rs"):
        ours = NearestNeighbors(n_neighbors=3, algorithm="ball_tree", metric="canberra").fit(X)
    theirs = sk.NearestNeighbors(n_neighbors=3, algorithm="ball_tree", metric="canberra").fit(X)
    assert "canberra" in caplog.text
    np.testing.assert_array_equal(ours.kneighbors(X[:10])[1], theirs.kneighbors(X[:10])[1])


def test_sklearn_errors_kept():
    X = _data("normal", 50, 3, seed=0)
    for est in (NearestNeighbors, sk.NearestNeighbors):
        with pytest.raises(ValueError, match="Haversine distance only valid in 2 dimensions"):
            est(algorithm="ball_tree", metric="haversine").fit(X)
        nn = est(algorithm="ball_tree", radius=1.0).fit(X)
        with pytest.raises(ValueError, match="X has 2 features"):
            nn.kneighbors(X[:, :2])
        with pytest.raises(ValueError, match="Expected n_neighbors <= n_samples_fit"):
            nn.kneighbors(X, n_neighbors=51)


def test_float32_data_searched_in_float64_as_sklearn():
    X = _data("rounded", 400, 4, seed=11).astype(np.float32)
    Q = _data("rounded", 30, 4, seed=12).astype(np.float32)
    for params in ({}, {"metric": "minkowski", "p": 3, "metric_params": {"w": WEIGHTS[:4]}}):
        ours, theirs = _pair("NearestNeighbors", n_neighbors=5, radius=1.0, **params)
        ours.fit(X)
        theirs.fit(X)
        assert ours._rs_tree is not None
        for a, b in zip(ours.kneighbors(Q), theirs.kneighbors(Q)):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
        for a, b in zip(ours.radius_neighbors(Q, sort_results=True),
                        theirs.radius_neighbors(Q, sort_results=True)):
            _assert_same_lists(a, b)
