"""Numerical equivalence of sklearn_rs.KMeans with scikit-learn's KMeans.

With the same explicit initial centers and n_init=1 both must follow the same path: identical
labels, centers and inertia equal up to rounding, the same n_iter_. k-means++ and random
initialisation take scikit-learn's draws (test_kmeans_random_state.py); here the quality of
many seeds is also compared on average.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.cluster import KMeans as SkKMeans
from sklearn.cluster import k_means as sk_k_means
from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus
from sklearn.datasets import load_digits, make_blobs
from skrs_utils import init_from_samples, make_blobs_data

from sklearn_rs import KMeans, k_means, kmeans_plusplus

CONTAINERS = {
    "C": lambda X: np.ascontiguousarray(X),
    "F": lambda X: np.asfortranarray(X),
    "csr_matrix": sp.csr_matrix,
    "csr_array": sp.csr_array,
}

# (relative tolerance on inertia, tolerance on centers relative to the data's scale)
TOLS = {np.float64: (1e-6, 1e-7), np.float32: (1e-4, 1e-4)}


def _data(container, dtype, *, n_samples=400, seed=0):
    sparse = container.startswith("csr")
    X = make_blobs_data(n_samples=n_samples, zero_fraction=0.3 if sparse else 0.0, seed=seed)
    return CONTAINERS[container](X.astype(dtype))


def _weights(n, seed=1):
    return np.random.RandomState(seed).uniform(0.5, 2.0, size=n)


def _fit_both(X, init, *, sample_weight=None, **params):
    X_before = X.copy()
    sk = SkKMeans(n_clusters=init.shape[0], init=init, n_init=1, **params)
    sk.fit(X, sample_weight=sample_weight)
    rs = KMeans(n_clusters=init.shape[0], init=init, n_init=1, **params)
    rs.fit(X, sample_weight=sample_weight)
    # Neither implementation may change the caller's data.
    if sp.issparse(X):
        assert_array_equal(X.toarray(), X_before.toarray())
    else:
        assert_array_equal(X, X_before)
    return sk, rs


def _assert_equivalent(sk, rs, X, dtype):
    inertia_rtol, center_tol = TOLS[dtype]
    scale = float(abs(X).max())
    assert rs.cluster_centers_.dtype == sk.cluster_centers_.dtype == dtype
    assert rs.cluster_centers_.shape == sk.cluster_centers_.shape
    assert rs.labels_.dtype == sk.labels_.dtype
    assert_array_equal(rs.labels_, sk.labels_)
    assert rs.n_iter_ == sk.n_iter_
    assert_allclose(rs.cluster_centers_, sk.cluster_centers_, rtol=center_tol,
                    atol=center_tol * scale)
    assert_allclose(rs.inertia_, sk.inertia_, rtol=inertia_rtol)
    assert isinstance(rs.inertia_, float)
    assert rs.n_features_in_ == sk.n_features_in_


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("container", list(CONTAINERS))
@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
def test_same_init_same_result(algorithm, container, dtype, weighted):
    X = _data(container, dtype)
    init = init_from_samples(X, 6, seed=3)
    sw = _weights(X.shape[0]) if weighted else None
    sk, rs = _fit_both(X, init, sample_weight=sw, algorithm=algorithm)
    # The data is meant to need several iterations; otherwise the test proves little.
    assert sk.n_iter_ >= 3
    _assert_equivalent(sk, rs, X, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("container", ["C", "csr_matrix"])
@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
@pytest.mark.parametrize(
    "params",
    [dict(max_iter=2), dict(tol=0.0), dict(tol=0.5), dict(max_iter=1)],
    ids=["max_iter=2", "tol=0", "tol=0.5", "max_iter=1"],
)
def test_same_init_convergence_rules(params, algorithm, container, dtype):
    """Stopping at max_iter, strict convergence (tol=0) and center-shift convergence."""
    X = _data(container, dtype, n_samples=300, seed=5)
    init = init_from_samples(X, 6, seed=11)
    sk, rs = _fit_both(X, init, algorithm=algorithm, **params)
    _assert_equivalent(sk, rs, X, dtype)


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
def test_many_clusters_and_samples(algorithm):
    """More samples than one chunk of work and more clusters than one block of centers."""
    X = make_blobs_data(n_samples=3000, n_features=7, n_centers=40, spread=30.0, seed=7)
    init = init_from_samples(X, 40, seed=2)
    sw = _weights(X.shape[0], seed=4)
    sk, rs = _fit_both(X, init, sample_weight=sw, algorithm=algorithm)
    _assert_equivalent(sk, rs, X, np.float64)


def _overlapping_blobs(n, d, k, seed):
    """Blobs as the KMeans benchmark's: centers drawn with standard deviation 2, unit noise, so
    that the clusters touch and Lloyd needs many iterations."""
    rng = np.random.default_rng(seed)
    X = rng.normal(scale=2.0, size=(k, d))[rng.integers(k, size=n)]
    return X + rng.standard_normal(size=(n, d))


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", [(5000, 32, 256), (4000, 64, 128)], ids=str)
def test_many_clusters_pruned_lloyd(shape, dtype, weighted):
    """Lloyd with many centers of many features (k * d >= 8192) skips most distances (bounds on groups of centers) and
    must still follow scikit-learn's path: the same labels at every iteration, so the same
    n_iter_ and final labels."""
    n, d, k = shape
    X = _overlapping_blobs(n, d, k, seed=d).astype(dtype)
    init = init_from_samples(X, k, seed=5)
    sw = _weights(n, seed=2) if weighted else None
    for params in [dict(max_iter=300, tol=0.0), dict(max_iter=7)]:
        sk, rs = _fit_both(X, init, sample_weight=sw, algorithm="lloyd", **params)
        assert sk.n_iter_ >= 5
        _assert_equivalent(sk, rs, X, dtype)


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
@pytest.mark.parametrize("n_features", [1, 2, 3, 17])
def test_other_feature_counts(algorithm, n_features):
    X = make_blobs_data(n_samples=500, n_features=n_features, n_centers=5, spread=40.0, seed=9)
    init = init_from_samples(X, 5, seed=6)
    sk, rs = _fit_both(X, init, algorithm=algorithm)
    _assert_equivalent(sk, rs, X, np.float64)


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
def test_single_cluster(algorithm):
    X = make_blobs_data(n_samples=200)
    init = X[:1] + 0.5
    with pytest.warns(RuntimeWarning) if algorithm == "elkan" else _nothing():
        sk, rs = _fit_both(X, init, algorithm=algorithm)
    _assert_equivalent(sk, rs, X, np.float64)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("int_dtype", [np.int64, np.int32, np.uint8, np.bool_])
def test_integer_and_bool_input_converted_to_float64(int_dtype):
    rng = np.random.RandomState(0)
    if int_dtype is np.bool_:
        X = rng.uniform(size=(200, 8)) < 0.4
        # jittered init keeps distances from tying on the 0/1 lattice
        init = rng.uniform(0.0, 1.0, size=(3, 8))
    else:
        X = np.round(make_blobs_data(n_samples=300, spread=10.0, std=2.0, seed=2) + 20)
        X = X.astype(int_dtype)
        init = init_from_samples(X, 6, seed=1) + 0.123
    sk, rs = _fit_both(X, init)
    assert rs.cluster_centers_.dtype == np.float64
    _assert_equivalent(sk, rs, X.astype(np.float64), np.float64)


def test_float32_init_array_with_float64_data_and_vice_versa():
    X64 = make_blobs_data(n_samples=300)
    init = init_from_samples(X64, 6, seed=3)
    sk, rs = _fit_both(X64, init.astype(np.float32))
    _assert_equivalent(sk, rs, X64, np.float64)
    X32 = X64.astype(np.float32)
    sk, rs = _fit_both(X32, init)
    _assert_equivalent(sk, rs, X32, np.float32)


def test_zero_weights_and_integer_weights():
    X = make_blobs_data(n_samples=300, seed=4)
    init = init_from_samples(X, 6, seed=8)
    sw = np.random.RandomState(0).randint(0, 4, size=X.shape[0])
    sk, rs = _fit_both(X, init, sample_weight=sw)
    _assert_equivalent(sk, rs, X, np.float64)


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
def test_empty_cluster_relocation(algorithm):
    """An init center far from every sample gets no points: it must be relocated the way
    scikit-learn relocates empty clusters (to the points farthest from their centers)."""
    X = make_blobs_data(n_samples=300, n_features=3, seed=12)
    init = init_from_samples(X, 5, seed=0)
    init[0] = 1e3
    init[1] = -1e3
    sk, rs = _fit_both(X, init, algorithm=algorithm)
    _assert_equivalent(sk, rs, X, np.float64)


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
def test_unrelocatable_empty_cluster_on_dense_data_is_placed_like_sklearn(algorithm):
    """Every sample sits on a center, so relocation is skipped and cluster 1 stays empty;
    scikit-learn gives it the heaviest cluster's (2) weighted sum, not yet divided, computed on
    dense X centred by its column means m: in the caller's coordinates S_2 - (W_2 - 1) m
    (for CSR, which scikit-learn does not centre, S_2 itself: test_kmeans_degenerate.py)."""
    X = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    init = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    sk, rs = _fit_both(X, init, algorithm=algorithm)
    _assert_equivalent(sk, rs, X, np.float64)


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_init_centroids_of_an_unfitted_estimator(init):
    """scikit-learn's own tests call _init_centroids on an estimator that was never fitted:
    it gives scikit-learn's centers, distinct samples of nonzero weight, in X's dtype."""
    X, _ = make_blobs(n_samples=100, n_features=5, centers=5, random_state=0)
    sample_weight = np.random.RandomState(0).uniform(size=100)
    sample_weight[::2] = 0
    centers = {}
    for Est in (SkKMeans, KMeans):
        centers[Est] = Est()._init_centroids(
            X, x_squared_norms=(X**2).sum(1), init=init, random_state=np.random.RandomState(0),
            sample_weight=sample_weight, n_centroids=10,
        )
    ours, theirs = centers[KMeans], centers[SkKMeans]
    assert ours.shape == theirs.shape == (10, 5) and ours.dtype == theirs.dtype
    allowed = {tuple(row) for row in X[sample_weight > 0]}
    assert {tuple(row) for row in ours} <= allowed
    assert len({tuple(row) for row in ours}) == 10
    assert_array_equal(ours, theirs)


def test_init_centroids_init_size_draws_sklearns_subsample():
    """With init_size (MiniBatchKMeans' initialisation) the centers come from the subsample
    scikit-learn draws from the same random_state."""
    X = make_blobs_data(n_samples=200)
    seen = {}
    for Est in (SkKMeans, KMeans):
        def init(X_sub, n_clusters, random_state, Est=Est):
            seen[Est] = X_sub.copy()
            return X_sub[:n_clusters]

        Est(n_clusters=4)._init_centroids(
            X, x_squared_norms=(X**2).sum(1), init=init, random_state=np.random.RandomState(3),
            sample_weight=np.ones(200), init_size=50,
        )
    assert seen[KMeans].shape == (50, X.shape[1])
    assert_array_equal(seen[KMeans], seen[SkKMeans])


@pytest.mark.parametrize("container", ["C", "csr_matrix"])
def test_k_means_function_same_init(container):
    X = _data(container, np.float64)
    init = init_from_samples(X, 6, seed=3)
    sw = _weights(X.shape[0])
    c_sk, l_sk, i_sk, n_sk = sk_k_means(X, 6, init=init, n_init=1, sample_weight=sw,
                                        return_n_iter=True)
    c_rs, l_rs, i_rs, n_rs = k_means(X, 6, init=init, n_init=1, sample_weight=sw,
                                     return_n_iter=True)
    assert_array_equal(l_rs, l_sk)
    assert n_rs == n_sk
    assert_allclose(c_rs, c_sk, rtol=1e-7, atol=1e-7 * abs(X).max())
    assert_allclose(i_rs, i_sk, rtol=1e-6)


# --- random initialisations: the same quality over many seeds ---------------------------

def _mean_inertia(Est, X, seeds, **params):
    return np.mean([Est(random_state=s, **params).fit(X).inertia_ for s in seeds])


@pytest.fixture(scope="module")
def digits():
    return load_digits().data


@pytest.fixture(scope="module")
def overlapping_blobs():
    # Overlapping blobs: the inertia varies little from seed to seed (its standard error over
    # 20 seeds is ~0.3-0.5%), so a 1% bound on the mean is meaningful.
    X, _ = make_blobs(n_samples=1000, n_features=4, centers=10, cluster_std=3.0,
                      center_box=(-10, 10), random_state=0)
    return X


@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("dataset", ["blobs", "digits"])
def test_mean_inertia_over_seeds_within_1_percent(dataset, init, request):
    X = request.getfixturevalue("digits" if dataset == "digits" else "overlapping_blobs")
    n_clusters = 10
    params = dict(n_clusters=n_clusters, init=init, n_init=1)
    seeds = range(20)
    sk = _mean_inertia(SkKMeans, X, seeds, **params)
    rs = _mean_inertia(KMeans, X, seeds, **params)
    assert abs(rs - sk) / sk < 0.01, (rs, sk)


def test_default_n_init_random_runs_several_inits(digits):
    """n_init='auto' with init='random' runs 10 inits, so it must beat a single init."""
    one = KMeans(n_clusters=10, init="random", n_init=1, random_state=0).fit(digits)
    auto = KMeans(n_clusters=10, init="random", n_init="auto", random_state=0).fit(digits)
    sk_auto = SkKMeans(n_clusters=10, init="random", n_init="auto", random_state=0).fit(digits)
    assert auto.inertia_ <= one.inertia_
    assert auto.inertia_ <= sk_auto.inertia_ * 1.02


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True])
def test_kmeans_plusplus_function(dtype, sparse):
    X = make_blobs_data(n_samples=300, zero_fraction=0.2 if sparse else 0.0).astype(dtype)
    Xc = sp.csr_matrix(X) if sparse else X
    centers, indices = kmeans_plusplus(Xc, 6, random_state=0)
    sk_centers, sk_indices = sk_kmeans_plusplus(Xc, 6, random_state=0)
    assert type(centers) is type(sk_centers) is np.ndarray
    assert centers.shape == sk_centers.shape == (6, X.shape[1])
    assert indices.shape == sk_indices.shape == (6,)
    assert centers.dtype == sk_centers.dtype == dtype
    assert indices.dtype.kind == sk_indices.dtype.kind == "i"
    # The centers are the samples at the returned indices, all distinct.
    assert len(set(indices.tolist())) == 6
    assert_array_equal(centers, X[indices])


def test_kmeans_plusplus_quality_matches(overlapping_blobs):
    """The potential of the k-means++ seeding averaged over seeds is the same as sklearn's."""
    X = overlapping_blobs

    def potential(centers):
        d = ((X[:, None, :] - centers[None]) ** 2).sum(-1).min(1)
        return d.sum()

    sk = np.mean([potential(sk_kmeans_plusplus(X, 10, random_state=s)[0]) for s in range(20)])
    rs = np.mean([potential(kmeans_plusplus(X, 10, random_state=s)[0]) for s in range(20)])
    assert abs(rs - sk) / sk < 0.05, (rs, sk)


def test_kmeans_plusplus_respects_sample_weight():
    """Samples with zero weight are never chosen as centers."""
    X = make_blobs_data(n_samples=200)
    sw = np.zeros(200)
    sw[::4] = 1.0
    for seed in range(5):
        _, indices = kmeans_plusplus(X, 6, sample_weight=sw, random_state=seed)
        assert np.all(sw[indices] > 0)
