"""The radius neighbours estimators, the neighbour graphs (methods, transformers, functions) and
the votes counted in Rust, against scikit-learn on the same data."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn import neighbors as sk

import sklearn_rs
from sklearn_rs import (
    KNeighborsClassifier,
    KNeighborsTransformer,
    NearestNeighbors,
    RadiusNeighborsClassifier,
    RadiusNeighborsRegressor,
    RadiusNeighborsTransformer,
    kneighbors_graph,
    radius_neighbors_graph,
)

rng = np.random.RandomState(0)
X = rng.randn(200, 4)
Q = rng.randn(30, 4) * 1.3  # some queries far out: no neighbour within the radius
LABELS = np.array([10, 20, 30])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.7)]
TARGET = np.c_[X[:, 0] - 2 * X[:, 2], X[:, 1]]
RADIUS = 1.2
METRICS = [{}, {"metric": "manhattan"}]  # manhattan: scikit-learn's RadiusNeighborsClassMode


def pair(ours_cls, theirs_cls, **params):
    params.setdefault("algorithm", "brute")
    return ours_cls(**params), theirs_cls(**params)


def outliers(x=Q):
    nn = sk.NearestNeighbors(radius=RADIUS).fit(X)
    return [i for i, ind in enumerate(nn.radius_neighbors(x, return_distance=False))
            if len(ind) == 0]


def assert_same_csr(ours, theirs, rtol=1e-9, atol=1e-9):
    assert type(ours) is type(theirs) and ours.format == theirs.format == "csr"
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    assert ours.indices.dtype == theirs.indices.dtype
    np.testing.assert_array_equal(ours.indptr, theirs.indptr)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    np.testing.assert_allclose(ours.data, theirs.data, rtol=rtol, atol=atol)


def outcome(call):
    """``(result, error type and message, warning messages)`` of ``call()``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result, error = call(), None
        except (ValueError, TypeError) as e:
            result, error = None, (type(e), str(e))
    return result, error, sorted(str(w.message) for w in caught)


@pytest.mark.parametrize("params", METRICS, ids=["euclidean", "manhattan"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("outlier_label", [None, "most_frequent", 20, 1, 99])
def test_radius_classifier_matches_sklearn(params, dtype, outlier_label):
    assert outliers()  # the queries include outliers
    x, q = X.astype(dtype), Q.astype(dtype)
    for y in (LABELS, np.c_[LABELS, LABELS[::-1] // 10]):
        if y.ndim == 2 and outlier_label == 20:
            continue
        ours, theirs = pair(RadiusNeighborsClassifier, sk.RadiusNeighborsClassifier,
                            radius=RADIUS, outlier_label=outlier_label, **params)
        ours.fit(x, y)
        theirs.fit(x, y)
        assert ours._rs_spec is not None
        for queries in (q, None, x[:20]):
            for method in ("predict_proba", "predict"):
                a, err_a, warn_a = outcome(lambda: getattr(ours, method)(queries))
                b, err_b, warn_b = outcome(lambda: getattr(theirs, method)(queries))
                assert err_a == err_b and warn_a == warn_b
                if b is not None:
                    for pa, pb in zip(np.atleast_1d(a) if y.ndim == 2 else [a],
                                      np.atleast_1d(b) if y.ndim == 2 else [b]):
                        np.testing.assert_array_equal(pa, pb)
                        assert np.asarray(pa).dtype == np.asarray(pb).dtype


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")  # NaN into int y
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_radius_regressor_matches_sklearn(dtype):
    x, q = X.astype(dtype), Q.astype(dtype)
    for y in (TARGET[:, 0], TARGET, TARGET.astype(np.float32), (TARGET * 3).astype(int)):
        ours, theirs = pair(RadiusNeighborsRegressor, sk.RadiusNeighborsRegressor,
                            radius=RADIUS)
        ours.fit(x, y)
        theirs.fit(x, y)
        for queries in (q, None):
            a, err_a, warn_a = outcome(lambda: ours.predict(queries))
            b, err_b, warn_b = outcome(lambda: theirs.predict(queries))
            assert err_a == err_b and warn_a == warn_b
            assert a.dtype == b.dtype and a.shape == b.shape
            rtol = 1e-6 if a.dtype == np.float32 else 1e-12
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
        assert ours.score(x, y) == pytest.approx(theirs.score(x, y), rel=1e-6)


def test_other_weights_run_sklearn_code_on_our_search():
    weights = lambda d: 1.0 / (1.0 + d)  # noqa: E731
    for ours_cls, theirs_cls, y in ((RadiusNeighborsClassifier, sk.RadiusNeighborsClassifier,
                                     LABELS),
                                    (RadiusNeighborsRegressor, sk.RadiusNeighborsRegressor,
                                     TARGET)):
        ours, theirs = pair(ours_cls, theirs_cls, radius=RADIUS, weights=weights)
        assert ours.fit(X, y)._rs_spec is not None
        np.testing.assert_allclose(ours.predict(X[:40]), theirs.fit(X, y).predict(X[:40]),
                                   rtol=1e-9)


@pytest.mark.parametrize("params", [{}, {"metric": "cosine"}], ids=["euclidean", "cosine"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("interface", ["sparray", "spmatrix"])
def test_radius_neighbors_graph_matches_sklearn(params, dtype, interface):
    x, q = X.astype(dtype), Q.astype(dtype)
    radius = RADIUS if not params else 0.3
    ours, theirs = pair(NearestNeighbors, sk.NearestNeighbors, radius=radius, **params)
    ours.fit(x)
    theirs.fit(x)
    # float32 cosine distances are 1 - similarity in float32: absolute rounding near 1e-7.
    rtol, atol = (1e-9, 1e-9) if dtype == np.float64 else (1e-5, 1e-6)
    with sklearn.config_context(sparse_interface=interface):
        for queries in (q, None):
            for mode in ("connectivity", "distance"):
                for sort in (False, True):
                    assert_same_csr(
                        ours.radius_neighbors_graph(queries, mode=mode, sort_results=sort),
                        theirs.radius_neighbors_graph(queries, mode=mode, sort_results=sort),
                        rtol, atol,
                    )
        with pytest.raises(ValueError, match="Unsupported mode"):
            ours.radius_neighbors_graph(q, mode="bogus")


@pytest.mark.parametrize("mode", ["distance", "connectivity"])
def test_transformers_match_sklearn(mode):
    for ours_cls, theirs_cls, params in (
        (KNeighborsTransformer, sk.KNeighborsTransformer, {"n_neighbors": 6}),
        (RadiusNeighborsTransformer, sk.RadiusNeighborsTransformer, {"radius": RADIUS}),
    ):
        ours, theirs = pair(ours_cls, theirs_cls, mode=mode, **params)
        # A sample's distance to itself: both compute |x|^2 - 2 x.x + |x|^2 (k-nearest search),
        # whose rounding (about 1e-15 before the square root) is summation-order dependent.
        assert_same_csr(ours.fit_transform(X), theirs.fit_transform(X), atol=1e-7)
        assert_same_csr(ours.transform(Q), theirs.transform(Q))
        assert ours._rs_spec is not None


@pytest.mark.parametrize("include_self", [False, True, "auto"])
@pytest.mark.parametrize("mode", ["connectivity", "distance"])
def test_graph_functions_match_sklearn(include_self, mode):
    kwargs = dict(mode=mode, include_self=include_self)
    assert_same_csr(kneighbors_graph(X, 5, **kwargs), sk.kneighbors_graph(X, 5, **kwargs),
                    atol=1e-7)  # include_self: a sample's own distance (see above)
    assert_same_csr(radius_neighbors_graph(X, RADIUS, **kwargs),
                    sk.radius_neighbors_graph(X, RADIUS, **kwargs))
    fitted = NearestNeighbors(n_neighbors=3, radius=RADIUS).fit(X[:50])
    assert_same_csr(kneighbors_graph(fitted, 3, **kwargs),
                    sk.kneighbors_graph(fitted, 3, **kwargs))
    for call in (lambda f: f(X, 0), lambda f: f(fitted, 3, metric="manhattan")):
        _, expected, _ = outcome(lambda: call(sk.kneighbors_graph))
        _, got, _ = outcome(lambda: call(kneighbors_graph))
        assert got == expected is not None


def test_patching_makes_sklearn_graph_functions_use_ours():
    with sklearn_rs.patched(["NearestNeighbors", "kneighbors_graph", "radius_neighbors_graph"]):
        from sklearn.neighbors import _graph

        assert _graph.NearestNeighbors is NearestNeighbors
        from sklearn.neighbors import kneighbors_graph as patched

        assert patched is kneighbors_graph
        # scikit-learn's own function body now builds ours.
        assert_same_csr(_graph.__dict__["radius_neighbors_graph"](X, RADIUS),
                        sk.radius_neighbors_graph(X, RADIUS))
    assert sk._graph.NearestNeighbors is sk.NearestNeighbors


def test_kneighbors_classifier_counts_multi_output_votes_in_rust():
    y = np.c_[LABELS, LABELS[::-1] // 10, np.arange(200) % 5]
    ours, theirs = pair(KNeighborsClassifier, sk.KNeighborsClassifier, n_neighbors=6)
    ours.fit(X, y)
    theirs.fit(X, y)
    for queries in (Q, None):
        for a, b in zip(ours.predict_proba(queries), theirs.predict_proba(queries)):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ours.predict(queries), theirs.predict(queries))


def test_csr_predictions_match_sklearn():
    xs = sp.csr_matrix(np.where(X > 0.5, X, 0.0))
    for weights in ("uniform", "distance"):
        ours = RadiusNeighborsClassifier(radius=RADIUS, outlier_label=10,
                                         weights=weights).fit(xs, LABELS)
        theirs = sk.RadiusNeighborsClassifier(radius=RADIUS, outlier_label=10,
                                              weights=weights).fit(xs, LABELS)
        assert ours._rs_spec is not None
        np.testing.assert_array_equal(ours.predict(xs), theirs.predict(xs))
        np.testing.assert_array_equal(ours.predict_proba(xs), theirs.predict_proba(xs))
        ours = RadiusNeighborsRegressor(radius=RADIUS, weights=weights).fit(xs, TARGET)
        theirs = sk.RadiusNeighborsRegressor(radius=RADIUS, weights=weights).fit(xs, TARGET)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # samples without neighbours: NaN, with a warning
            np.testing.assert_array_equal(ours.predict(xs), theirs.predict(xs))
    # auto: a k-d tree, ours (see test_kd_tree_radius_equivalence.py)
    ours = RadiusNeighborsRegressor(radius=RADIUS).fit(X, TARGET)
    assert ours._rs_tree is not None and ours._fit_method == "kd_tree"


def test_each_class_has_the_methods_of_sklearns():
    for name in ("NearestNeighbors", "KNeighborsClassifier", "KNeighborsRegressor",
                 "RadiusNeighborsClassifier", "RadiusNeighborsRegressor",
                 "KNeighborsTransformer", "RadiusNeighborsTransformer"):
        ours, theirs = getattr(sklearn_rs, name), getattr(sk, name)
        public = lambda cls: {m for m in dir(cls) if not m.startswith("_")}  # noqa: E731
        assert public(ours) == public(theirs), name
