"""The metric layer (``sklearn_rs._metrics`` and ``kernels::metric``) against scikit-learn's
``DistanceMetric`` and ``pairwise_distances``."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import DistanceMetric, pairwise_distances
from sklearn.neighbors import VALID_METRICS, NearestNeighbors

from sklearn_rs import _core
from sklearn_rs._base import samples_view
from sklearn_rs._metrics import MetricSpec, effective_metric, resolve_metric

rng = np.random.RandomState(0)
X = rng.randn(7, 4)
Y = rng.randn(5, 4)
W = rng.rand(4) + 0.1

# (metric, p, metric_params) as estimators hold them, with scikit-learn's DistanceMetric.
CASES = [
    ("euclidean", None, None),
    ("l2", None, None),
    ("minkowski", 2, None),
    ("minkowski", 1, None),
    ("minkowski", 3, None),
    ("minkowski", 0.5, None),
    ("minkowski", np.inf, None),
    ("minkowski", 2, {"w": W}),
    ("minkowski", 2, {"p": 1.5, "w": W}),
    ("p", None, {"p": 3}),
    ("manhattan", None, None),
    ("cityblock", None, None),
    ("l1", None, None),
    ("chebyshev", None, None),
    ("infinity", None, None),
]


def _distance_metric(metric, p, metric_params):
    name, params = effective_metric(metric, p, metric_params)
    return DistanceMetric.get_metric(name, **params)


def _pairwise(spec, x, y, reduced=False, n_threads=1):
    return _core.pairwise_distances(samples_view(x), samples_view(y), spec, reduced, n_threads)


@pytest.mark.parametrize("metric, p, metric_params", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_distances_and_reduced_distances_match_distance_metric(metric, p, metric_params, dtype):
    spec = resolve_metric(metric, p, metric_params, n_features=4)
    assert isinstance(spec, MetricSpec)
    dm = _distance_metric(metric, p, metric_params)
    x, y = X.astype(dtype), Y.astype(dtype)
    want = dm.pairwise(X, Y)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(_pairwise(spec, x, y), want, rtol=rtol, atol=rtol)
    reduced = _pairwise(spec, x, y, reduced=True)
    np.testing.assert_allclose(reduced, dm.dist_to_rdist(want), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(spec.rdist_to_dist(reduced), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(spec.dist_to_rdist(want), dm.dist_to_rdist(want), rtol=1e-12)
    np.testing.assert_allclose(spec.rdist_to_dist(reduced), dm.rdist_to_dist(reduced), rtol=1e-12)
    # CSR rows give the same distances.
    np.testing.assert_allclose(
        _pairwise(spec, sp.csr_matrix(x), sp.csr_matrix(y)), want, rtol=rtol, atol=rtol
    )


@pytest.mark.parametrize("metric", ["sqeuclidean", "cosine", "haversine"])
def test_metrics_of_pairwise_distances(metric):
    x, y = (X[:, :2].copy(), Y[:, :2].copy()) if metric == "haversine" else (X, Y)
    x = np.vstack([x, np.zeros_like(x[:1])])  # a zero row (cosine counts its norm as 1)
    spec = resolve_metric(metric, n_features=x.shape[1])
    want = pairwise_distances(x, y, metric=metric)
    np.testing.assert_allclose(_pairwise(spec, x, y), want, rtol=1e-12, atol=1e-12)
    if metric == "haversine":
        dm = DistanceMetric.get_metric("haversine")
        np.testing.assert_allclose(
            _pairwise(spec, x, y, reduced=True), dm.dist_to_rdist(want), rtol=1e-12
        )
    sx = sp.csr_matrix(x)
    np.testing.assert_allclose(_pairwise(spec, sx, sp.csr_matrix(y)), want, atol=1e-12)


def test_pairwise_is_identical_for_any_thread_count():
    x = rng.randn(300, 5)
    spec = resolve_metric("minkowski", 3)
    one = _pairwise(spec, x, x, n_threads=1)
    two = _pairwise(spec, x, x, n_threads=2)
    assert one.tobytes() == two.tobytes()


@pytest.mark.parametrize("metric, p, metric_params", CASES)
def test_effective_metric_matches_nearest_neighbors(metric, p, metric_params):
    if metric not in VALID_METRICS["brute"]:
        pytest.skip(f"{metric!r} is a DistanceMetric name that neighbour estimators reject")
    kwargs = {} if p is None else {"p": p}
    nn = NearestNeighbors(metric=metric, metric_params=metric_params, algorithm="brute", **kwargs)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nn.fit(X)
    name, params = effective_metric(metric, p if p is not None else 2, metric_params)
    assert name == nn.effective_metric_
    assert params.keys() == nn.effective_metric_params_.keys()


def test_fallback_reasons():
    assert isinstance(resolve_metric(lambda a, b: 0.0), str)
    assert isinstance(resolve_metric("seuclidean", metric_params={"V": np.ones(4)}), str)
    assert isinstance(resolve_metric("jaccard"), str)
    assert isinstance(resolve_metric(DistanceMetric.get_metric("euclidean")), str)
    assert isinstance(resolve_metric("euclidean", metric_params={"p": 3}), str)
    assert isinstance(resolve_metric("chebyshev", sparse=True), str)
    assert resolve_metric("cosine", sparse=True) == MetricSpec("cosine")
    assert resolve_metric("precomputed") == MetricSpec("precomputed")
    assert resolve_metric("minkowski", 2) == MetricSpec("euclidean")
    assert resolve_metric("minkowski", 2, {"p": 1}) == MetricSpec("manhattan")
    assert resolve_metric("p") == MetricSpec("euclidean")


@pytest.mark.parametrize(
    "kwargs, n_features, sklearn_call",
    [
        ({"metric": "minkowski", "p": 0}, 4, lambda: DistanceMetric.get_metric("minkowski", p=0)),
        (
            {"metric": "minkowski", "metric_params": {"w": -W}},
            4,
            lambda: DistanceMetric.get_metric("minkowski", p=2, w=-W),
        ),
        (
            {"metric": "minkowski", "metric_params": {"w": W}},
            3,
            lambda: DistanceMetric.get_metric("minkowski", p=2, w=W).pairwise(X[:, :3]),
        ),
        (
            {"metric": "haversine"},
            3,
            lambda: DistanceMetric.get_metric("haversine").pairwise(X[:, :3]),
        ),
        (
            {"metric": "minkowski", "p": np.inf, "metric_params": {"w": W}},
            4,
            lambda: DistanceMetric.get_metric("minkowski", p=np.inf, w=W),
        ),
    ],
)
def test_errors_are_distance_metric_errors(kwargs, n_features, sklearn_call):
    with pytest.raises(ValueError) as theirs:
        sklearn_call()
    with pytest.raises(ValueError) as ours:
        resolve_metric(
            kwargs["metric"], kwargs.get("p"), kwargs.get("metric_params"), n_features=n_features
        )
    assert str(ours.value) == str(theirs.value)
