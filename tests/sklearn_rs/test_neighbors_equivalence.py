"""NearestNeighbors searches against scikit-learn's on the same data: neighbours, distances,
graphs, ties, threads, errors and fallbacks."""

import logging

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.base
from sklearn.neighbors import NearestNeighbors as SkNearestNeighbors
from threadpoolctl import threadpool_limits

from sklearn_rs import NearestNeighbors

rng = np.random.RandomState(0)
X = rng.randn(300, 6)
Q = rng.randn(40, 6)

METRICS = [
    {},
    {"metric": "sqeuclidean"},
    {"metric": "manhattan"},
    {"metric": "chebyshev"},
    {"p": 3},
    {"p": 0.5},
    {"metric": "minkowski", "metric_params": {"w": rng.rand(6) + 0.1}},
    {"metric": "cosine"},
]


def pair(**params):
    params.setdefault("algorithm", "brute")
    return NearestNeighbors(**params), SkNearestNeighbors(**params)


@pytest.mark.filterwarnings("ignore:Mind that for 0 < p < 1")
@pytest.mark.parametrize("params", METRICS, ids=lambda p: str(p)[:40])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kneighbors_and_radius_match_sklearn(params, dtype):
    ours, theirs = pair(n_neighbors=5, **params)
    x, q = X.astype(dtype), Q.astype(dtype)
    ours.fit(x)
    theirs.fit(x)
    assert ours._rs_spec is not None  # computed in Rust
    assert ours.effective_metric_ == theirs.effective_metric_
    assert ours._fit_method == theirs._fit_method == "brute"
    rtol = 1e-10 if dtype == np.float64 else 1e-5
    for queries in (q, None):
        d1, i1 = ours.kneighbors(queries)
        d2, i2 = theirs.kneighbors(queries)
        assert d1.dtype == d2.dtype and i1.dtype == i2.dtype
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_allclose(d1, d2, rtol=rtol, atol=rtol)
        np.testing.assert_array_equal(ours.kneighbors(queries, 2, return_distance=False), i2[:, :2])
        radius = np.median(d2[:, -1])
        for sort in (True, False):
            rd1, ri1 = ours.radius_neighbors(queries, radius, sort_results=sort)
            rd2, ri2 = theirs.radius_neighbors(queries, radius, sort_results=sort)
            assert len(ri1) == len(ri2)
            for a, b, da, db in zip(ri1, ri2, rd1, rd2):
                np.testing.assert_array_equal(a, b)
                np.testing.assert_allclose(da, db, rtol=rtol, atol=rtol)
                assert da.dtype == db.dtype
        for mode in ("connectivity", "distance"):
            g1 = ours.kneighbors_graph(queries, mode=mode)
            g2 = theirs.kneighbors_graph(queries, mode=mode)
            assert g1.format == g2.format and g1.dtype == g2.dtype
            np.testing.assert_allclose(g1.toarray(), g2.toarray(), rtol=rtol, atol=rtol)
            r1 = ours.radius_neighbors_graph(queries, radius, mode=mode, sort_results=True)
            r2 = theirs.radius_neighbors_graph(queries, radius, mode=mode, sort_results=True)
            np.testing.assert_array_equal(r1.indices, r2.indices)
            np.testing.assert_allclose(r1.data, r2.data, rtol=rtol, atol=rtol)


def _sparse(a):
    return sp.csr_matrix(np.where(a > 0.5, a, 0.0))


def _assert_ties_lowest_index_first(ours_d, ours_i, theirs_d, theirs_i):
    """Neighbours equal scikit-learn's except in the order of exactly equal distances, which
    NumPy's selection leaves as an artefact: there ours come lowest index first, and a group
    cut at the k-th place holds the same number of neighbours."""
    np.testing.assert_array_equal(ours_d, theirs_d)
    for d, a, b in zip(ours_d, ours_i, theirs_i):
        for v in np.unique(d):
            tied_a, tied_b = a[d == v], b[d == v]
            assert list(tied_a) == sorted(tied_a)
            if v < d.max():
                assert set(tied_a) == set(tied_b)


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "cosine"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_csr_input_matches_sklearn(metric, dtype):
    """CSR samples are searched in Rust with scikit-learn's arithmetic for each metric:
    manhattan by its ArgKmin (float32 sums in float32), euclidean and cosine by its pairwise
    path (SciPy's sparse product), so distances are equal bit for bit and so are their
    dtypes; indices too, but for exactly equal distances on the pairwise path."""
    xs, qs = _sparse(X).astype(dtype), _sparse(Q).astype(dtype)
    ours, theirs = pair(n_neighbors=4, metric=metric)
    ours.fit(xs)
    theirs.fit(xs)
    assert ours._rs_spec is not None
    with threadpool_limits(1):  # scikit-learn's ArgKmin orders ties by its thread count
        for queries in (qs, None):
            d1, i1 = ours.kneighbors(queries)
            d2, i2 = theirs.kneighbors(queries)
            assert d1.dtype == d2.dtype
            if metric == "manhattan":
                np.testing.assert_array_equal(i1, i2)
                np.testing.assert_array_equal(d1, d2)
            else:
                _assert_ties_lowest_index_first(d1, i1, d2, i2)
            for sort_results in (False, True):
                rd1, ri1 = ours.radius_neighbors(queries, 0.8, sort_results=sort_results)
                rd2, ri2 = theirs.radius_neighbors(queries, 0.8, sort_results=sort_results)
                for a, b, da, db in zip(ri1, ri2, rd1, rd2):
                    np.testing.assert_array_equal(a, b)
                    np.testing.assert_array_equal(da, db)
                    assert da.dtype == db.dtype
            g1 = ours.radius_neighbors_graph(queries, 0.8, mode="distance")
            g2 = theirs.radius_neighbors_graph(queries, 0.8, mode="distance")
            assert g1.dtype == g2.dtype
            np.testing.assert_array_equal(g1.toarray(), g2.toarray())


def test_csr_ties_lowest_index_first():
    """An all-zero query is at cosine distance 1 from every sample: scikit-learn returns
    whichever NumPy's introselect leaves; ours the lowest indices, nearest first."""
    xs = _sparse(X)
    zero = sp.csr_matrix((1, X.shape[1]))
    d, i = NearestNeighbors(n_neighbors=5, metric="cosine").fit(xs).kneighbors(zero)
    np.testing.assert_array_equal(i, [[0, 1, 2, 3, 4]])
    np.testing.assert_array_equal(d, np.ones((1, 5)))


@pytest.mark.parametrize("metric", ["euclidean", "manhattan"])
@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_csr_predictions_match_sklearn(metric, weights):
    from sklearn.neighbors import KNeighborsClassifier as SkClassifier
    from sklearn.neighbors import KNeighborsRegressor as SkRegressor

    from sklearn_rs import KNeighborsClassifier, KNeighborsRegressor

    dense = np.random.RandomState(5).rand(400, 8)
    xs = sp.csr_matrix(np.where(dense > 0.3, dense, 0.0))  # no two rows alike: no ties
    labels = (dense[:, 0] * 4).astype(int)
    for ours, theirs in ((KNeighborsClassifier, SkClassifier), (KNeighborsRegressor, SkRegressor)):
        a = ours(5, metric=metric, weights=weights).fit(xs[:300], labels[:300])
        b = theirs(5, metric=metric, weights=weights).fit(xs[:300], labels[:300])
        assert a._rs_spec is not None
        np.testing.assert_allclose(a.predict(xs[300:]), b.predict(xs[300:]), rtol=1e-12)


def _float32_cases():
    # A sample whose 3rd and 4th neighbours are 2e-8 apart, below float32's rounding of the
    # expansion (it once picked the farther one).
    near_tie = np.random.RandomState(33052).standard_normal((3000, 3)).astype(np.float32)
    # Far from the origin: float32 values of the expansion carry no digit of the distances.
    far = (rng.randn(400, 4) + 1000).astype(np.float32)
    # Every sample as far from the origin as the others, to rounding.
    sphere = rng.randn(500, 3)
    sphere = np.vstack([np.zeros((1, 3)), sphere / np.linalg.norm(sphere, axis=1)[:, None]])
    return {"near_tie": near_tie, "far": far, "sphere": sphere.astype(np.float32)}


@pytest.mark.parametrize("case", ["near_tie", "far", "sphere"])
def test_float32_neighbours_are_the_ones_sklearn_finds_in_float64(case):
    # scikit-learn ranks float32 samples by float64 distances; a float32 preselection must be
    # ranked again and proven (or searched again) to find the same neighbours.
    x = _float32_cases()[case]
    ours, theirs = pair(n_neighbors=3)
    d1, i1 = ours.fit(x).kneighbors(x)
    d2, i2 = theirs.fit(x).kneighbors(x)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(d1, d2, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exact_ties_are_ordered_as_sklearn_orders_them(dtype):
    # Integer grid points with duplicates: many neighbours at exactly equal distances. With few
    # queries scikit-learn merges per-thread heaps, whose order depends on its thread count;
    # ours is its one-thread order, whatever our thread count. (Both dtypes are preselected in
    # float32, whose ranking must leave exact ties to the full scan.)
    grid = np.array([[i, j] for i in range(6) for j in range(6)], dtype=dtype)
    data = np.vstack([grid, grid[::3], grid[::5]])
    for k in (1, 4, 9, 20):
        ours, theirs = pair(n_neighbors=k)
        d1, i1 = ours.fit(data).kneighbors(grid)
        with threadpool_limits(1):
            d2, i2 = theirs.fit(data).kneighbors(grid)
            i3 = theirs.kneighbors()[1]
        np.testing.assert_array_equal(i1, i2)
        # float32: scikit-learn rounds the distances it returns to float32.
        np.testing.assert_allclose(d1, d2, rtol=0 if dtype == np.float64 else 1e-7)
        np.testing.assert_array_equal(ours.kneighbors()[1], i3)
    # Many queries: scikit-learn's per-query heaps (any thread count).
    queries = np.tile(grid, (40, 1))
    fit = np.vstack([grid] * 3)
    for k in (5, 9):
        ours, theirs = pair(n_neighbors=k)
        np.testing.assert_array_equal(
            ours.fit(fit).kneighbors(queries)[1], theirs.fit(fit).kneighbors(queries)[1]
        )


def test_same_bits_for_any_thread_count():
    big = np.random.RandomState(1).randn(3000, 8)
    results = []
    for n in (1, 2):
        with threadpool_limits(n):
            nn = NearestNeighbors(n_neighbors=7, algorithm="brute").fit(big)
            d, i = nn.kneighbors(big[:700])
            rd, ri = nn.radius_neighbors(big[:300], 2.0)
            results.append((d, i, np.concatenate(list(rd)), np.concatenate(list(ri))))
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    "call",
    [
        lambda nn: nn.kneighbors(Q, n_neighbors=301),
        lambda nn: nn.kneighbors(None, n_neighbors=300),
        lambda nn: nn.kneighbors(Q, n_neighbors=0),
        lambda nn: nn.kneighbors(Q, n_neighbors=2.5),
        lambda nn: nn.kneighbors(Q[:, :3]),
        lambda nn: nn.radius_neighbors(Q, 1.0, return_distance=False, sort_results=True),
    ],
)
def test_errors_match_sklearn(call):
    ours, theirs = pair()
    ours.fit(X)
    theirs.fit(X)
    with pytest.raises(Exception) as expected:
        call(theirs)
    with pytest.raises(type(expected.value)) as got:
        call(ours)
    assert str(got.value) == str(expected.value)


def test_weights_of_the_wrong_length_raise_sklearn_error():
    params = {"metric": "minkowski", "metric_params": {"w": np.ones(4)}}
    ours, theirs = pair(**params)
    with pytest.raises(ValueError) as expected:
        theirs.fit(X).kneighbors(Q)
    with pytest.raises(ValueError, match="the size of w must match") as got:
        ours.fit(X).kneighbors(Q)
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize(
    "params, reason",
    [
        # the ball tree's other metrics (see test_ball_tree_equivalence.py)
        ({"algorithm": "ball_tree", "metric": "canberra"}, "not computed in Rust"),
        ({"algorithm": "brute", "metric": lambda a, b: np.abs(a - b).sum()}, "callable"),
        ({"algorithm": "brute", "metric": "canberra"}, "not computed in Rust"),
    ],
)
def test_fallbacks_are_logged_and_give_sklearn_results(params, reason, caplog):
    with caplog.at_level(logging.INFO, logger="sklearn_rs"):
        ours = NearestNeighbors(n_neighbors=3, **params).fit(X[:50])
    assert reason in caplog.text
    assert ours._rs_spec is None
    theirs = SkNearestNeighbors(n_neighbors=3, **params).fit(X[:50])
    d1, i1 = ours.kneighbors(Q)
    d2, i2 = theirs.kneighbors(Q)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(d1, d2)


def test_mixed_dtypes_and_integer_data():
    xi = np.random.RandomState(2).randint(0, 5, size=(60, 3))
    ours, theirs = pair(n_neighbors=3)
    ours.fit(xi)
    theirs.fit(xi)
    for q in (xi[:10].astype(np.float32), xi[:10]):
        d1, i1 = ours.kneighbors(q)
        d2, _ = theirs.kneighbors(q)
        assert d1.dtype == d2.dtype
        np.testing.assert_allclose(d1, d2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_infinite_and_zero_radius(dtype):
    x = X.astype(dtype)
    ours, theirs = pair()
    ours.fit(x)
    theirs.fit(x)
    for radius in (np.inf, 0.0):
        d1, i1 = ours.radius_neighbors(x[:5], radius, sort_results=True)
        d2, i2 = theirs.radius_neighbors(x[:5], radius, sort_results=True)
        for a, b, da, db in zip(i1, i2, d1, d2):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_allclose(da, db, atol=1e-5)


@pytest.mark.parametrize("weights", ["uniform", "distance", lambda d: 1.0 / (1.0 + d)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_classifier_and_regressor_match_sklearn(weights, dtype):
    from sklearn.neighbors import KNeighborsClassifier as SkClassifier
    from sklearn.neighbors import KNeighborsRegressor as SkRegressor

    from sklearn_rs import KNeighborsClassifier, KNeighborsRegressor

    x, q = X.astype(dtype), Q.astype(dtype)
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    target = X[:, 0] - 2 * X[:, 2]
    for ours_cls, theirs_cls, y, methods in (
        (KNeighborsClassifier, SkClassifier, labels, ("predict", "predict_proba")),
        (KNeighborsRegressor, SkRegressor, target, ("predict",)),
        (KNeighborsClassifier, SkClassifier, np.c_[labels, labels[::-1]], ("predict",)),
    ):
        ours = ours_cls(n_neighbors=7, weights=weights, algorithm="brute").fit(x, y)
        theirs = theirs_cls(n_neighbors=7, weights=weights, algorithm="brute").fit(x, y)
        assert ours._rs_spec is not None
        for m in methods:
            a, b = getattr(ours, m)(q), getattr(theirs, m)(q)
            np.testing.assert_allclose(a, b, rtol=1e-5)
            assert np.asarray(a).dtype == np.asarray(b).dtype
        if y.ndim == 1:
            np.testing.assert_allclose(ours.score(q, y[:40]), theirs.score(q, y[:40]), rtol=1e-6)


def _distance_weighted_pairs(dtype, y_labels, y_target):
    from sklearn import neighbors as sk

    import sklearn_rs

    fitted = []
    for name, y, params in (
        ("KNeighborsClassifier", y_labels, {"n_neighbors": 7}),
        ("KNeighborsClassifier", np.c_[y_labels, y_labels[::-1]], {"n_neighbors": 9}),
        ("KNeighborsRegressor", y_target, {"n_neighbors": 7}),
        ("KNeighborsRegressor", np.c_[y_target, -y_target], {"n_neighbors": 12}),
        ("RadiusNeighborsClassifier", y_labels, {"radius": 2.0, "outlier_label": 0}),
        ("RadiusNeighborsRegressor", y_target, {"radius": 2.0}),
        ("RadiusNeighborsRegressor", np.c_[y_target, -y_target], {"radius": 2.0}),
    ):
        params = {**params, "weights": "distance", "algorithm": "brute"}
        ours = getattr(sklearn_rs, name)(**params).fit(X.astype(dtype), y)
        theirs = getattr(sk, name)(**params).fit(X.astype(dtype), y)
        assert ours._rs_spec is not None and ours._rs_weighting() == "distance"
        methods = ("predict", "predict_proba") if "Classifier" in name else ("predict",)
        fitted.append((ours, theirs, methods))
    return fitted


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_distance_weights_match_sklearn_on_new_queries(dtype):
    # No query coincides with a fitted sample: 1 / distance everywhere, and the two searches'
    # distances differ by rounding only (ours exact, scikit-learn's from the expansion
    # |x|^2 - 2 x.y + |y|^2: ~1e-15 relative for float64, float32's ~7e-8 for float32 data),
    # so the weighted predictions agree to that rounding.
    labels = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0.5)
    target = X[:, 0] - 2 * X[:, 2]
    rtol = 1e-10 if dtype == np.float64 else 1e-6
    for ours, theirs, methods in _distance_weighted_pairs(dtype, labels, target):
        for queries in (Q.astype(dtype), None):
            for m in methods:
                a, b = getattr(ours, m)(queries), getattr(theirs, m)(queries)
                for pa, pb in zip(a, b) if isinstance(a, list) else [(a, b)]:
                    assert pa.dtype == pb.dtype and pa.shape == pb.shape
                    if m == "predict" and isinstance(ours, sklearn.base.ClassifierMixin):
                        np.testing.assert_array_equal(pa, pb)
                    else:
                        np.testing.assert_allclose(pa, pb, rtol=rtol, atol=rtol / 100)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_distance_weights_on_the_fitted_samples(dtype):
    # Each query is a fitted sample. scikit-learn's distances come from the expansion
    # |x|^2 - 2 x.y + |y|^2, which leaves a residual of about 1e-8 instead of 0 at a sample's
    # own point: a weight of ~1e8 against the others' ~1 instead of its rule for zero distances
    # (all the weight on the coincident sample), so its prediction is that sample's target to
    # ~1e-7. Our k-nearest distances (float64) are the same expansion, with a residual that
    # differs by rounding; our radius searches and float32 k-nearest searches check distances
    # exactly, so the rule applies and the prediction is the target exactly.
    labels = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0.5)
    target = X[:, 0] - 2 * X[:, 2]
    x = X.astype(dtype)
    for ours, theirs, _ in _distance_weighted_pairs(dtype, labels, target):
        exact = "Radius" in type(ours).__name__ or dtype == np.float32
        a, b = ours.predict(x), theirs.predict(x)
        if hasattr(theirs, "classes_"):
            fitted_y = theirs._y
            truth = (theirs.classes_[fitted_y] if fitted_y.ndim == 1 else
                     np.stack([c[fitted_y[:, k]] for k, c in enumerate(theirs.classes_)], 1))
            np.testing.assert_array_equal(a, truth)
            np.testing.assert_array_equal(b, truth)
            pa, pb = ours.predict_proba(x), theirs.predict_proba(x)
            for pa_k, pb_k in zip(*((p if isinstance(p, list) else [p]) for p in (pa, pb))):
                one_hot = np.round(pb_k)
                np.testing.assert_allclose(pb_k, one_hot, rtol=0, atol=1e-6)
                np.testing.assert_allclose(pa_k, one_hot, rtol=0, atol=0 if exact else 1e-6)
        else:
            np.testing.assert_allclose(b, theirs._y, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(a, theirs._y, rtol=0 if exact else 1e-6,
                                       atol=0 if exact else 1e-6)


@pytest.mark.filterwarnings("ignore:overflow encountered in divide")  # 1 / 1e-310
def test_distance_weighted_sums_are_numpys_bit_for_bit():
    # Given the same neighbour lists and distances, the Rust weights, votes and sums are
    # scikit-learn's NumPy expressions bit for bit (k from 1 to 300 crosses NumPy's pairwise
    # blocks of 8 and 128), including rows with zero and subnormal distances.
    from sklearn.neighbors._base import _get_weights
    from sklearn.utils.extmath import weighted_mode

    from sklearn_rs._threads import _core

    r = np.random.RandomState(1)
    n_fit, n_q, n_classes = 500, 20, 4
    y = r.randn(n_fit, 3) * 10.0 ** r.randint(-3, 4, size=(n_fit, 1))
    labels = r.randint(0, n_classes, size=n_fit).astype(np.int64)
    for k in (1, 5, 8, 9, 17, 130, 300):
        ind = np.array([r.choice(n_fit, k, replace=False) for _ in range(n_q)], dtype=np.int64)
        dist = r.rand(n_q, k) * 10.0 ** r.randint(-3, 3, size=(n_q, 1))
        dist[0, 0] = 0.0
        dist[1, : min(k, 2)] = 0.0
        dist[2, -1] = 1e-310  # 1 / d overflows
        offsets = np.arange(0, n_q * k + 1, k, dtype=np.int64)
        lists = (offsets, ind.ravel(), dist.ravel())

        w = _get_weights(dist.copy(), "distance")
        expected = np.stack([np.sum(y[ind, j] * w, axis=1) / np.sum(w, axis=1)
                             for j in range(3)], axis=1)
        np.testing.assert_array_equal(
            _core.neighbor_weighted_means(*lists, y, "kneighbors", 2), expected)
        mode, _ = weighted_mode(labels[ind], w, axis=1)
        np.testing.assert_array_equal(
            _core.neighbor_weighted_votes(*lists, labels, n_classes, 2), mode.ravel())
        proba = np.zeros((n_q, n_classes))
        for i in range(k):
            proba[np.arange(n_q), labels[ind[:, i]]] += w[:, i]
        proba /= proba.sum(axis=1)[:, np.newaxis]
        np.testing.assert_array_equal(
            _core.neighbor_weighted_class_probabilities(
                *lists, labels, n_classes, "kneighbors", 2, np.zeros((n_q, n_classes))),
            proba)

        per_query = np.empty(n_q, dtype=object)
        per_query[:] = [row.copy() for row in dist]
        w = _get_weights(per_query, "distance")
        with np.errstate(invalid="ignore"):
            for targets in (y[:, :1].copy(), y):
                expected = np.array([np.average(targets[ind[i]], axis=0, weights=w[i])
                                     for i in range(n_q)])
                np.testing.assert_array_equal(
                    _core.neighbor_weighted_means(*lists, targets, "radius", 2), expected)
            proba = np.array([np.bincount(labels[ind[i]], w[i], minlength=n_classes)
                              for i in range(n_q)])
            normalizer = proba.sum(axis=1)[:, np.newaxis]
            normalizer[normalizer == 0.0] = 1.0
            proba /= normalizer
        np.testing.assert_array_equal(
            _core.neighbor_weighted_class_probabilities(
                *lists, labels, n_classes, "radius", 2, np.zeros((n_q, n_classes))),
            proba)
