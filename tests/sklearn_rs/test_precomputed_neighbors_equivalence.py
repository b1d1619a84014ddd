"""The neighbours estimators on precomputed distances (``metric="precomputed"``, dense matrices
and sparse graphs) against scikit-learn on the same inputs: searches, graphs, predictions,
pipelines from the transformers, errors and warnings."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import neighbors as sk
from sklearn.exceptions import EfficiencyWarning
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import _base
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from sklearn_rs import (
    KNeighborsClassifier,
    KNeighborsRegressor,
    KNeighborsTransformer,
    NearestNeighbors,
    RadiusNeighborsClassifier,
    RadiusNeighborsRegressor,
    RadiusNeighborsTransformer,
    kneighbors_graph,
    radius_neighbors_graph,
)

rng = np.random.RandomState(0)
X = rng.randn(120, 3)
Q = rng.randn(25, 3)
D_FIT = pairwise_distances(X)  # continuous: no exact ties off the diagonal
D_Q = pairwise_distances(Q, X)
LABELS = np.array([1, 2, 3])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]
TARGET = X[:, 0] - 2 * X[:, 2]
# Manhattan distances on an integer grid: many exact ties.
G = rng.randint(0, 4, size=(80, 2)).astype(float)
GQ = rng.randint(0, 4, size=(20, 2)).astype(float)
T_FIT = pairwise_distances(G, metric="manhattan")
T_Q = pairwise_distances(GQ, G, metric="manhattan")


def radius_graph(x, y=None, radius=1.3, sort=False):
    """A distance radius graph from ``x`` to ``y`` (rows not sorted by value unless ``sort``)."""
    nn = sk.NearestNeighbors(radius=radius).fit(x if y is None else y)
    g = nn.radius_neighbors_graph(None if y is None else x, mode="distance", sort_results=sort)
    return g


def knn_graph(x, y=None, k=10):
    nn = sk.NearestNeighbors(n_neighbors=k).fit(x if y is None else y)
    return nn.kneighbors_graph(None if y is None else x, mode="distance")


def assert_lists_equal(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def assert_same_csr(ours, theirs):
    assert type(ours) is type(theirs) and ours.format == theirs.format == "csr"
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours.indptr, theirs.indptr)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    np.testing.assert_array_equal(ours.data, theirs.data)


def outcome(call):
    """``(result, error, warning categories and messages)`` of ``call()``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result, error = call(), None
        except (ValueError, TypeError, IndexError) as e:
            result, error = None, (type(e), str(e))
    return result, error, [(w.category, str(w.message)) for w in caught]


def fit_both(cls, sk_cls, data, y=None, **params):
    params = {"metric": "precomputed", **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EfficiencyWarning)
        args = () if y is None else (y,)
        return cls(**params).fit(data, *args), sk_cls(**params).fit(data, *args)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("query", [None, "Q"])
def test_dense_kneighbors_exact(dtype, query):
    ours, theirs = fit_both(NearestNeighbors, sk.NearestNeighbors, D_FIT.astype(dtype),
                            n_neighbors=6)
    q = None if query is None else D_Q.astype(dtype)
    d1, i1 = ours.kneighbors(q)
    d2, i2 = theirs.kneighbors(q)
    assert d1.dtype == d2.dtype and i1.dtype == i2.dtype
    np.testing.assert_array_equal(d1, d2)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(ours.kneighbors(q, 3, return_distance=False),
                                  theirs.kneighbors(q, 3, return_distance=False))


def test_dense_kneighbors_mixed_dtypes_and_lists():
    ours, theirs = fit_both(NearestNeighbors, sk.NearestNeighbors, D_FIT.astype(np.float32))
    for q in (D_Q, D_Q.tolist(), np.rint(D_Q * 10).astype(int)):
        d1, i1 = ours.kneighbors(q, 4)
        d2, i2 = theirs.kneighbors(q, 4)
        assert d1.dtype == d2.dtype == np.float64
        np.testing.assert_array_equal(d1, d2)
        if not np.issubdtype(np.asarray(q).dtype, np.integer):  # integers: ties
            np.testing.assert_array_equal(i1, i2)


@pytest.mark.parametrize("query", [None, "Q"])
@pytest.mark.parametrize("k", [1, 5, 30])
def test_dense_kneighbors_ties_as_sets(query, k):
    """scikit-learn's order among equal distances is NumPy's introselect's; ours is by index.
    Per row: the same distances, the same indices below the k-th distance, and ours the
    lowest indices at the k-th distance."""
    ours, theirs = fit_both(NearestNeighbors, sk.NearestNeighbors, T_FIT)
    q = None if query is None else T_Q
    d1, i1 = ours.kneighbors(q, k)
    d2, i2 = theirs.kneighbors(q, k)
    np.testing.assert_array_equal(d1, d2)
    full = T_FIT if q is None else T_Q
    for r in range(d1.shape[0]):
        kth = d1[r, -1]
        assert set(i1[r][d1[r] < kth]) == set(i2[r][d2[r] < kth])
        # ours: ascending distance, then ascending index
        assert all((d1[r, j], i1[r, j]) < (d1[r, j + 1], i1[r, j + 1]) for j in range(k - 1))
        if q is not None:
            np.testing.assert_array_equal(full[r, i1[r]], d1[r])
            candidates = np.flatnonzero(full[r] == kth)
            assert set(i1[r][d1[r] == kth]) == set(candidates[:np.sum(d1[r] == kth)])


@pytest.mark.parametrize("sparse_query", [False, True])
def test_sparse_graph_fit_with_dense_or_sparse_queries(sparse_query):
    graph = knn_graph(X, k=15)
    ours, theirs = fit_both(NearestNeighbors, sk.NearestNeighbors, graph, n_neighbors=5)
    q = knn_graph(Q, X, k=12) if sparse_query else D_Q
    d1, i1 = ours.kneighbors(q)
    d2, i2 = theirs.kneighbors(q)
    assert i1.dtype == i2.dtype and d1.dtype == d2.dtype
    np.testing.assert_array_equal(d1, d2)
    np.testing.assert_array_equal(i1, i2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_sparse_kneighbors_unsorted_rows_and_warning(dtype, index_dtype):
    graph = sp.csr_matrix(T_FIT * (T_FIT <= 3)).astype(dtype)  # ties; sorted by column
    graph.indices = graph.indices.astype(index_dtype)
    graph.indptr = graph.indptr.astype(index_dtype)
    ours = NearestNeighbors(n_neighbors=4, metric="precomputed")
    theirs = sk.NearestNeighbors(n_neighbors=4, metric="precomputed")
    _, err1, warn1 = outcome(lambda: ours.fit(graph))
    _, err2, warn2 = outcome(lambda: theirs.fit(graph))
    assert err1 is err2 is None and warn1 == warn2 and warn1[0][0] is EfficiencyWarning
    for q in (None, graph):
        r1, _, w1 = outcome(lambda: ours.kneighbors(q))
        r2, _, w2 = outcome(lambda: theirs.kneighbors(q))
        assert w1 == w2
        for a, b in zip(r1, r2):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
    assert graph.has_sorted_indices  # the input is left as it was


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.EfficiencyWarning")
@pytest.mark.parametrize("sort_results", [False, True])
@pytest.mark.parametrize("query", [None, "Q"])
@pytest.mark.parametrize("kind", ["dense", "dense32", "sparse", "sparse_unsorted"])
def test_radius_neighbors_exact(sort_results, query, kind):
    if kind.startswith("dense"):
        fit, q = T_FIT, T_Q
        if kind == "dense32":
            fit, q = fit.astype(np.float32), q.astype(np.float32)
    else:
        fit, q = radius_graph(G, radius=2.5), radius_graph(GQ, G, radius=2.5)
        if kind == "sparse":
            fit, q = (sp.csr_matrix(_base.sort_graph_by_row_values(g, copy=True,
                                                                  warn_when_not_sorted=False))
                      for g in (fit, q))
    q = None if query is None else q
    ours, theirs = fit_both(NearestNeighbors, sk.NearestNeighbors, fit, radius=1.5)
    for radius in (None, 2.0, np.float64(1.0000001)):
        r1, e1, w1 = outcome(lambda: ours.radius_neighbors(q, radius, sort_results=sort_results))
        r2, e2, w2 = outcome(lambda: theirs.radius_neighbors(q, radius,
                                                             sort_results=sort_results))
        assert e1 == e2 and w1 == w2
        assert_lists_equal(r1[0], r2[0])
        assert_lists_equal(r1[1], r2[1])
        for mode in ("connectivity", "distance"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", EfficiencyWarning)
                assert_same_csr(
                    ours.radius_neighbors_graph(q, radius, mode, sort_results=sort_results),
                    theirs.radius_neighbors_graph(q, radius, mode, sort_results=sort_results))
        np.testing.assert_array_equal(
            np.concatenate(ours.radius_neighbors(q, radius, return_distance=False)),
            np.concatenate(theirs.radius_neighbors(q, radius, return_distance=False)))


def test_float32_radius_compares_as_numpy():
    fit = np.array([[0.0, 0.1, 0.2], [0.1, 0.0, 0.3], [0.2, 0.3, 0.0]], dtype=np.float32)
    ours, theirs = fit_both(NearestNeighbors, sk.NearestNeighbors, fit)
    for radius in (0.1, np.float64(0.1), 0.2, np.float64(0.2), np.float32(0.3), 1):
        assert_lists_equal(ours.radius_neighbors(radius=radius)[1],
                           theirs.radius_neighbors(radius=radius)[1])
        g = sp.csr_matrix(fit)
        o, t = fit_both(NearestNeighbors, sk.NearestNeighbors, g)
        assert_lists_equal(o.radius_neighbors(radius=radius)[1],
                           t.radius_neighbors(radius=radius)[1])


@pytest.mark.parametrize("mode", ["connectivity", "distance"])
def test_graph_functions_and_methods(mode):
    for data in (D_FIT, knn_graph(X, k=12)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EfficiencyWarning)
            assert_same_csr(kneighbors_graph(data, 5, mode=mode, metric="precomputed"),
                            sk.kneighbors_graph(data, 5, mode=mode, metric="precomputed"))
            assert_same_csr(
                radius_neighbors_graph(data, 1.0, mode=mode, metric="precomputed",
                                       include_self=True),
                sk.radius_neighbors_graph(data, 1.0, mode=mode, metric="precomputed",
                                          include_self=True))
        ours, theirs = fit_both(NearestNeighbors, sk.NearestNeighbors, data, n_neighbors=4)
        assert_same_csr(ours.kneighbors_graph(D_Q, mode=mode),
                        theirs.kneighbors_graph(D_Q, mode=mode))


@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("kind", ["dense", "dense32", "sparse"])
def test_predictions(weights, kind):
    if kind == "sparse":
        fit, q = knn_graph(X, k=20), knn_graph(Q, X, k=20)
    else:
        dtype = np.float32 if kind == "dense32" else np.float64
        fit, q = D_FIT.astype(dtype), D_Q.astype(dtype)
    for cls, sk_cls, y, extra in (
        (KNeighborsClassifier, sk.KNeighborsClassifier, LABELS, {"n_neighbors": 7}),
        (KNeighborsRegressor, sk.KNeighborsRegressor, TARGET, {"n_neighbors": 7}),
        (RadiusNeighborsClassifier, sk.RadiusNeighborsClassifier, LABELS,
         {"radius": 1.0, "outlier_label": "most_frequent"}),
        (RadiusNeighborsRegressor, sk.RadiusNeighborsRegressor, TARGET, {"radius": 1.0}),
    ):
        ours, theirs = fit_both(cls, sk_cls, fit, y, weights=weights, **extra)
        for query in (q, None):
            if query is None and cls in (KNeighborsClassifier, KNeighborsRegressor):
                continue  # scikit-learn's predict needs X
            p1, e1, w1 = outcome(lambda: ours.predict(query))
            p2, e2, w2 = outcome(lambda: theirs.predict(query))
            assert e1 == e2 and w1 == w2
            np.testing.assert_allclose(p1, p2, rtol=1e-12)
            if hasattr(theirs, "predict_proba"):
                np.testing.assert_allclose(ours.predict_proba(query),
                                           theirs.predict_proba(query), rtol=1e-12)


def test_transformer_pipelines():
    y_test = np.array([1, 2, 3])[(Q[:, 0] > 0).astype(int) + (Q[:, 1] > 0.5)]
    for weights in ("uniform", "distance"):
        ours = make_pipeline(KNeighborsTransformer(n_neighbors=10, mode="distance"),
                             KNeighborsClassifier(5, metric="precomputed", weights=weights))
        theirs = make_pipeline(sk.KNeighborsTransformer(n_neighbors=10, mode="distance"),
                               sk.KNeighborsClassifier(5, metric="precomputed",
                                                       weights=weights))
        np.testing.assert_array_equal(ours.fit(X, LABELS).predict(Q),
                                      theirs.fit(X, LABELS).predict(Q))
        np.testing.assert_allclose(ours.predict_proba(Q), theirs.predict_proba(Q), rtol=1e-12)
        assert ours.score(Q, y_test) == theirs.score(Q, y_test)
        ours = make_pipeline(RadiusNeighborsTransformer(radius=1.5, mode="distance"),
                             RadiusNeighborsRegressor(radius=1.0, metric="precomputed",
                                                      weights=weights))
        theirs = make_pipeline(sk.RadiusNeighborsTransformer(radius=1.5, mode="distance"),
                               sk.RadiusNeighborsRegressor(radius=1.0, metric="precomputed",
                                                           weights=weights))
        p1, _, w1 = outcome(lambda: ours.fit(X, TARGET).predict(Q))
        p2, _, w2 = outcome(lambda: theirs.fit(X, TARGET).predict(Q))
        assert w1 == w2
        np.testing.assert_allclose(p1, p2, rtol=1e-12)
    # Transformers on precomputed input themselves.
    for cls, sk_cls, params in ((KNeighborsTransformer, sk.KNeighborsTransformer,
                                 {"n_neighbors": 4}),
                                (RadiusNeighborsTransformer, sk.RadiusNeighborsTransformer,
                                 {"radius": 1.0})):
        for data in (D_FIT, knn_graph(X, k=8)):
            ours, theirs = (c(metric="precomputed", mode="distance", **params)
                            for c in (cls, sk_cls))
            assert_same_csr(ours.fit_transform(data), theirs.fit_transform(data))
            assert_same_csr(ours.transform(D_Q), theirs.transform(D_Q))


def test_errors_and_warnings():
    negative = D_FIT.copy()
    negative[3, 5] = -1.0
    short = knn_graph(X, k=3)
    cases = [
        (NearestNeighbors, sk.NearestNeighbors, lambda e: e.fit(negative)),
        (NearestNeighbors, sk.NearestNeighbors, lambda e: e.fit(sp.csr_matrix(negative))),
        (NearestNeighbors, sk.NearestNeighbors, lambda e: e.fit(D_Q)),  # not square
        (NearestNeighbors, sk.NearestNeighbors, lambda e: e.fit(D_FIT).kneighbors(-D_Q)),
        (NearestNeighbors, sk.NearestNeighbors,
         lambda e: e.fit(D_FIT).kneighbors(sp.csr_matrix(-D_Q))),
        (NearestNeighbors, sk.NearestNeighbors, lambda e: e.fit(D_FIT).kneighbors(D_Q[:, :50])),
        (NearestNeighbors, sk.NearestNeighbors,
         lambda e: e.fit(D_FIT).radius_neighbors(D_Q[:, :50])),
        (NearestNeighbors, sk.NearestNeighbors, lambda e: e.fit(short).kneighbors(None, 5)),
        (NearestNeighbors, sk.NearestNeighbors, lambda e: e.fit(short).kneighbors(short, 4)),
        (NearestNeighbors, sk.NearestNeighbors, lambda e: e.fit(D_FIT).kneighbors(None, 120)),
        (NearestNeighbors, sk.NearestNeighbors,
         lambda e: e.fit(D_FIT).kneighbors(sp.csc_matrix(D_Q))),
        (NearestNeighbors, sk.NearestNeighbors,
         lambda e: e.fit(D_FIT).kneighbors(sp.dok_matrix(D_Q))),
        (NearestNeighbors, sk.NearestNeighbors,
         lambda e: e.fit(sp.csr_matrix((3, 3))).radius_neighbors()),
        (KNeighborsClassifier, sk.KNeighborsClassifier,
         lambda e: e.fit(short, LABELS).predict(knn_graph(Q, X, k=2))),
    ]
    for cls, sk_cls, call in cases:
        r1, e1, w1 = outcome(lambda: call(cls(metric="precomputed")))
        r2, e2, w2 = outcome(lambda: call(sk_cls(metric="precomputed")))
        assert e1 == e2 and w1 == w2
        if e1 is None and r1 is not None:
            for a, b in zip(r1, r2):
                np.testing.assert_array_equal(a, b)


def test_rust_answers():
    """The searches do not run scikit-learn's precomputed helpers."""
    from unittest import mock

    import sklearn_rs._precomputed as pre

    boom = mock.Mock(side_effect=AssertionError("scikit-learn's code ran"))
    real_sort = _base.sort_graph_by_row_values

    def sorted_already(graph, **kwargs):  # scikit-learn's _fit checks, sorts nothing
        assert _base._is_sorted_by_data(graph)
        return real_sort(graph, **kwargs)

    unsorted = knn_graph(X, k=10)
    unsorted.sort_indices()
    with mock.patch.object(sk.NearestNeighbors, "_kneighbors_reduce_func", boom), \
            mock.patch.object(sk.NearestNeighbors, "_radius_neighbors_reduce_func", boom), \
            mock.patch.object(pre, "_kneighbors_from_graph", boom), \
            mock.patch.object(pre, "_radius_neighbors_from_graph", boom), \
            mock.patch.object(_base, "sort_graph_by_row_values", sorted_already):
        for data in (D_FIT, unsorted):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", EfficiencyWarning)
                nn = NearestNeighbors(n_neighbors=3, metric="precomputed").fit(data)
                nn.kneighbors()
                nn.radius_neighbors(radius=1.0)
                nn.kneighbors(D_Q)


def test_same_results_for_any_thread_count():
    graph = radius_graph(X, radius=3.0)
    results = []
    for n in (1, 2):
        with threadpool_limits(n), warnings.catch_warnings():
            warnings.simplefilter("ignore", EfficiencyWarning)
            out = []
            for data, q in ((T_FIT, T_Q), (graph, radius_graph(Q, X, radius=3.0))):
                nn = NearestNeighbors(n_neighbors=7, radius=2.0, metric="precomputed").fit(data)
                out += list(nn.kneighbors(q)) + list(nn.kneighbors())
                g = nn.radius_neighbors_graph(q, mode="distance", sort_results=True)
                out += [g.indptr, g.indices, g.data]
            results.append(out)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.EfficiencyWarning")
def test_integer_graph_uses_sklearn_helpers_with_the_same_results():
    graph = sp.csr_matrix(np.rint(T_FIT * (T_FIT <= 3)).astype(np.int64))
    ours, theirs = fit_both(NearestNeighbors, sk.NearestNeighbors, graph, n_neighbors=3)
    for q in (None, graph):
        for a, b in zip(ours.kneighbors(q), theirs.kneighbors(q)):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
        for a, b in zip(ours.radius_neighbors(q, 2), theirs.radius_neighbors(q, 2)):
            assert_lists_equal(a, b)
