"""The same random_state gives scikit-learn's initial centers, hence its clustering.

k-means++ and random initialisation take exactly the values scikit-learn takes from the
estimator's RandomState, in the same order, and turn them into choices with the same arithmetic:
the same random_state gives the same initial centers, the same labels and n_iter_, centers and
inertia equal to rounding, and leaves the RandomState in the state scikit-learn leaves it in (so
later n_init runs and later draws agree too).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.cluster import KMeans as SkKMeans
from sklearn.cluster import k_means as sk_k_means
from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus
from sklearn.datasets import load_digits
from skrs_utils import make_blobs_data

from sklearn_rs import KMeans, k_means, kmeans_plusplus

TOLS = {np.float64: 1e-7, np.float32: 1e-4}
SEEDS = [0, 1, 7]


def _data(sparse, dtype, n_samples=300, seed=0):
    X = make_blobs_data(n_samples=n_samples, zero_fraction=0.3 if sparse else 0.0, seed=seed)
    # Overlapping clusters, so the initialisation matters for the result.
    X = X + 4.0 * np.random.RandomState(seed + 100).standard_normal(X.shape)
    X = X.astype(dtype)
    return sp.csr_matrix(X) if sparse else X


def _weights(n, seed=1):
    return np.random.RandomState(seed).uniform(0.5, 2.0, size=n)


def _assert_same_state(a, b):
    sa, sb = a.get_state(), b.get_state()
    assert sa[0] == sb[0]
    assert_array_equal(sa[1], sb[1])
    assert sa[2:] == sb[2:]


def _assert_same_fit(sk, rs, X, dtype):
    tol = TOLS[dtype]
    scale = abs(X).max()
    assert_array_equal(rs.labels_, sk.labels_)
    assert rs.n_iter_ == sk.n_iter_
    assert_allclose(rs.cluster_centers_, sk.cluster_centers_, rtol=tol, atol=tol * scale)
    assert_allclose(rs.inertia_, sk.inertia_, rtol=10 * tol)


@pytest.mark.parametrize("n_init", [1, 3])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_fit_equals_sklearn_and_leaves_the_same_state(init, sparse, dtype, weighted, n_init):
    X = _data(sparse, dtype)
    sw = _weights(X.shape[0]) if weighted else None
    for seed in SEEDS:
        rng_sk, rng_rs = np.random.RandomState(seed), np.random.RandomState(seed)
        params = dict(n_clusters=6, init=init, n_init=n_init)
        sk = SkKMeans(random_state=rng_sk, **params).fit(X, sample_weight=sw)
        rs = KMeans(random_state=rng_rs, **params).fit(X, sample_weight=sw)
        _assert_same_fit(sk, rs, X, dtype)
        _assert_same_state(rng_sk, rng_rs)
        # Later draws agree as well.
        assert_array_equal(rng_sk.random_sample(3), rng_rs.random_sample(3))


@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
def test_integer_random_state_and_default_n_init(init, algorithm):
    X = _data(False, np.float64, n_samples=500, seed=3)
    for seed in range(5):
        params = dict(n_clusters=8, init=init, algorithm=algorithm, random_state=seed)
        _assert_same_fit(SkKMeans(**params).fit(X), KMeans(**params).fit(X), X, np.float64)


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_digits_equal_sklearn(init):
    # The digits are small integers, so samples can be exactly as far from two centers. Elkan
    # computes distances by differences in both libraries and breaks such ties by index; Lloyd
    # in scikit-learn breaks them by the rounding of its centred copy of X (same initial
    # centers, possibly another local minimum), so Lloyd is not compared here.
    X = load_digits().data
    for seed in range(4):
        params = dict(n_clusters=10, init=init, n_init=1, random_state=seed, algorithm="elkan")
        _assert_same_fit(SkKMeans(**params).fit(X), KMeans(**params).fit(X), X, np.float64)


@pytest.mark.parametrize("n_local_trials", [None, 1, 5])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_kmeans_plusplus_same_indices(sparse, dtype, weighted, n_local_trials):
    X = _data(sparse, dtype, n_samples=400, seed=2)
    sw = _weights(X.shape[0], seed=5) if weighted else None
    for seed in range(6):
        rng_sk, rng_rs = np.random.RandomState(seed), np.random.RandomState(seed)
        c_sk, i_sk = sk_kmeans_plusplus(X, 12, sample_weight=sw, random_state=rng_sk,
                                        n_local_trials=n_local_trials)
        c_rs, i_rs = kmeans_plusplus(X, 12, sample_weight=sw, random_state=rng_rs,
                                     n_local_trials=n_local_trials)
        assert_array_equal(i_rs, i_sk)
        assert_array_equal(c_rs, c_sk)
        _assert_same_state(rng_sk, rng_rs)


def test_kmeans_plusplus_single_cluster_and_zero_weights():
    X = _data(False, np.float64, n_samples=100)
    sw = np.zeros(100)
    sw[::3] = 1.0
    for seed in range(5):
        for k in (1, 5):
            _, i_sk = sk_kmeans_plusplus(X, k, sample_weight=sw, random_state=seed)
            _, i_rs = kmeans_plusplus(X, k, sample_weight=sw, random_state=seed)
            assert_array_equal(i_rs, i_sk)


def test_random_init_draws_again_after_duplicates():
    """With n_clusters close to n_samples numpy's choice without replacement redraws several
    times; the draws and the state afterwards are still scikit-learn's."""
    X = _data(False, np.float64, n_samples=40)
    sw = _weights(40, seed=9)
    for seed in range(5):
        rng_sk, rng_rs = np.random.RandomState(seed), np.random.RandomState(seed)
        c_sk = SkKMeans()._init_centroids(
            X, x_squared_norms=None, init="random", random_state=rng_sk, sample_weight=sw,
            n_centroids=35,
        )
        c_rs = KMeans()._init_centroids(
            X, x_squared_norms=None, init="random", random_state=rng_rs, sample_weight=sw,
            n_centroids=35,
        )
        assert_array_equal(c_rs, c_sk)
        _assert_same_state(rng_sk, rng_rs)
        # 35 draws cost 70 words: more means it drew again.
        assert rng_rs.get_state()[2] > 70


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_cached_gaussian_and_global_state_are_kept(init):
    """The RandomState's cached normal survives, and random_state=None draws from (and
    advances) numpy's global RandomState as scikit-learn does."""
    X = _data(False, np.float64)
    rng_sk, rng_rs = np.random.RandomState(4), np.random.RandomState(4)
    rng_sk.standard_normal()
    rng_rs.standard_normal()
    assert rng_rs.get_state()[3] == 1
    SkKMeans(6, init=init, n_init=2, random_state=rng_sk).fit(X)
    KMeans(6, init=init, n_init=2, random_state=rng_rs).fit(X)
    _assert_same_state(rng_sk, rng_rs)
    assert rng_sk.standard_normal() == rng_rs.standard_normal()

    np.random.seed(11)
    sk = SkKMeans(6, init=init, n_init=2).fit(X)
    after_sk = np.random.random_sample()
    np.random.seed(11)
    rs = KMeans(6, init=init, n_init=2).fit(X)
    assert np.random.random_sample() == after_sk
    assert_array_equal(rs.labels_, sk.labels_)


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_k_means_function(init):
    X = _data(True, np.float64)
    sw = _weights(X.shape[0])
    c_sk, l_sk, i_sk, n_sk = sk_k_means(X, 5, init=init, n_init=2, sample_weight=sw,
                                        random_state=3, return_n_iter=True)
    c_rs, l_rs, i_rs, n_rs = k_means(X, 5, init=init, n_init=2, sample_weight=sw,
                                     random_state=3, return_n_iter=True)
    assert_array_equal(l_rs, l_sk)
    assert n_rs == n_sk
    assert_allclose(c_rs, c_sk, rtol=1e-7, atol=1e-7 * abs(X).max())
    assert_allclose(i_rs, i_sk, rtol=1e-6)
