"""sklearn_rs.dask on a real dask.distributed cluster (two worker processes, one thread each,
loopback only): fits equal bitwise to sklearn_rs's single-machine fits for any chunking."""

import os
import pickle
import signal
import time

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import sklearn_rs  # noqa: E402
from sklearn_rs.dask import (  # noqa: E402
    KMeans,
    PCA,
    MiniBatchKMeans,
    ParallelPostFit,
    StandardScaler,
    worker_info,
)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        host="127.0.0.1",
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def blobs(n, d, dtype, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-10, 10, size=(5, d))
    X = centers[rng.integers(0, 5, size=n)] + rng.normal(size=(n, d))
    w = rng.uniform(0.5, 2.0, size=n)
    return X.astype(dtype), w.astype(dtype)


CHUNKINGS = {
    "one": lambda n: n,
    "many": lambda n: 300,
    "ragged": lambda n: (700, 64, 1, 935, n - 1700),
}


def assert_same_fit(local, dist):
    np.testing.assert_array_equal(dist.cluster_centers_, local.cluster_centers_, strict=True)
    np.testing.assert_array_equal(dist.labels_.compute(), local.labels_)
    assert dist.n_iter_ == local.n_iter_
    assert dist.inertia_ == local.inertia_


@pytest.mark.parametrize("chunking", sorted(CHUNKINGS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_fit_equals_single_machine_for_any_chunking(client, chunking, dtype, weighted):
    n = 2000
    X, w = blobs(n, 3, dtype)
    sw = w if weighted else None
    C0 = X[[0, 1, 2, 3, 4, 5]].copy()
    local = sklearn_rs.KMeans(n_clusters=6, init=C0, n_init=1).fit(X, sample_weight=sw)
    Xd = da.from_array(X, chunks=(CHUNKINGS[chunking](n), 3))
    dist = KMeans(n_clusters=6, init=C0, n_init=1).fit(Xd, sample_weight=sw)
    assert isinstance(dist.labels_, da.Array)
    assert_same_fit(local, dist)
    assert dist.cluster_centers_.dtype == dtype


def test_larger_blocks_weights_as_dask_array_and_strict_convergence(client):
    # 20000 samples: blocks of several 256-row chunks, which chunks of 3000 rows do not
    # follow (they are merged up to block boundaries); tol=0 runs to strict convergence.
    X, w = blobs(20000, 4, np.float32, seed=1)
    C0 = X[:7].copy()
    local = sklearn_rs.KMeans(n_clusters=7, init=C0, n_init=1, tol=0).fit(X, sample_weight=w)
    Xd = da.from_array(X, chunks=(3000, 4))
    wd = da.from_array(w, chunks=5000)
    dist = KMeans(n_clusters=7, init=C0, n_init=1, tol=0).fit(Xd, sample_weight=wd)
    assert_same_fit(local, dist)


def test_empty_cluster_relocation(client):
    X, w = blobs(1500, 2, np.float64, seed=2)
    C0 = np.vstack([X[:3], [[1e3, 1e3]], [[-1e3, 5e2]]])  # two centers far from every sample
    local = sklearn_rs.KMeans(n_clusters=5, init=C0, n_init=1).fit(X, sample_weight=w)
    dist = KMeans(n_clusters=5, init=C0, n_init=1).fit(
        da.from_array(X, chunks=400), sample_weight=w
    )
    assert_same_fit(local, dist)


def test_random_init_and_n_init_take_the_same_draws(client):
    X, w = blobs(1200, 3, np.float64, seed=3)
    params = dict(n_clusters=4, init="random", n_init=3, random_state=7)
    local = sklearn_rs.KMeans(**params).fit(X, sample_weight=w)
    dist = KMeans(**params).fit(da.from_array(X, chunks=500), sample_weight=w)
    assert_same_fit(local, dist)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kmeans_plusplus_takes_the_single_machine_draws(client, dtype):
    from sklearn_rs.dask._init import kmeans_plusplus

    X, w = blobs(2000, 3, dtype, seed=9)
    Xd = da.from_array(X, chunks=(CHUNKINGS["ragged"](2000), 3))
    wd = da.from_array(w, chunks=700)
    expected, _ = sklearn_rs.kmeans_plusplus(
        X, 7, sample_weight=w, random_state=np.random.RandomState(11)
    )
    got = kmeans_plusplus(client, Xd, wd, 7, np.random.RandomState(11))
    np.testing.assert_array_equal(got, expected, strict=True)
    # The default init of the estimator, with n_init runs compared by inertia.
    local = sklearn_rs.KMeans(n_clusters=5, n_init=2, random_state=4).fit(X)
    assert_same_fit(local, KMeans(n_clusters=5, n_init=2, random_state=4).fit(Xd))


def test_callable_init_gets_the_dask_array(client):
    X, _ = blobs(900, 2, np.float64, seed=4)
    seen = []

    def init(Xd, k, random_state):
        seen.append(type(Xd))
        return np.asarray(Xd[:k].compute())

    local = sklearn_rs.KMeans(n_clusters=3, init=lambda X, k, random_state: X[:k], n_init=1)
    dist = KMeans(n_clusters=3, init=init, n_init=1).fit(da.from_array(X, chunks=250))
    assert_same_fit(local.fit(X), dist)
    assert seen == [da.Array]


def test_predict_and_transform_are_lazy_and_chunking_free(client):
    X, _ = blobs(3000, 3, np.float32, seed=5)
    C0 = X[:5].copy()
    local = sklearn_rs.KMeans(n_clusters=5, init=C0, n_init=1).fit(X)
    dist = KMeans(n_clusters=5, init=C0, n_init=1).fit(da.from_array(X, chunks=1000))
    Xq = da.from_array(X, chunks=(333, 3))
    labels, distances = dist.predict(Xq), dist.transform(Xq)
    assert isinstance(labels, da.Array) and isinstance(distances, da.Array)
    # Labels come from the fit's search, whatever the chunks: the fit's labels.
    np.testing.assert_array_equal(labels.compute(), local.labels_)
    np.testing.assert_array_equal(distances.compute(), local.transform(X), strict=True)


def test_to_local_pickles_and_serves(client):
    X, _ = blobs(1000, 3, np.float64, seed=6)
    dist = KMeans(n_clusters=4, init=X[:4].copy(), n_init=1).fit(da.from_array(X, chunks=300))
    local = pickle.loads(pickle.dumps(dist.to_local()))
    assert type(local) is sklearn_rs.KMeans
    np.testing.assert_array_equal(local.cluster_centers_, dist.cluster_centers_)
    np.testing.assert_array_equal(local.predict(X), dist.labels_.compute())
    assert local.inertia_ == dist.inertia_ and local.n_iter_ == dist.n_iter_
    with pytest.raises(TypeError, match="to_local"):
        pickle.dumps(dist)


def test_parallel_post_fit_predicts_chunk_by_chunk(client):
    X, _ = blobs(1500, 4, np.float64, seed=10)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    Xd = da.from_array(X, chunks=(400, 4))
    clf = ParallelPostFit(sklearn_rs.LogisticRegression()).fit(X, y)
    local = sklearn_rs.LogisticRegression().fit(X, y)
    labels, proba = clf.predict(Xd), clf.predict_proba(Xd)
    assert isinstance(labels, da.Array) and proba.chunks == ((400, 400, 400, 300), (2,))
    np.testing.assert_array_equal(labels.compute(), local.predict(X))
    np.testing.assert_allclose(proba.compute(), local.predict_proba(X), rtol=1e-12)
    scaler = ParallelPostFit(sklearn_rs.StandardScaler()).fit(X)
    np.testing.assert_array_equal(
        scaler.transform(Xd).compute(), sklearn_rs.StandardScaler().fit(X).transform(X)
    )
    np.testing.assert_array_equal(clf.predict(X), local.predict(X))  # NumPy: unchanged


@pytest.mark.parametrize("weighted", [False, True])
def test_minibatch_partial_fit_streams_the_chunks(client, weighted):
    X, w = blobs(1800, 3, np.float32, seed=12)
    sizes = (500, 700, 600)
    local = sklearn_rs.MiniBatchKMeans(n_clusters=4, random_state=0, batch_size=256)
    start = 0
    for m in sizes:
        chunk_w = w[start:start + m] if weighted else None
        local.partial_fit(X[start:start + m], sample_weight=chunk_w)
        start += m
    dist = MiniBatchKMeans(n_clusters=4, random_state=0, batch_size=256)
    dist.partial_fit(
        da.from_array(X, chunks=(sizes, 3)),
        sample_weight=da.from_array(w, chunks=900) if weighted else None,
    )
    np.testing.assert_array_equal(dist.cluster_centers_, local.cluster_centers_, strict=True)
    assert dist.n_steps_ == local.n_steps_ == 3
    Xq = da.from_array(X, chunks=(450, 3))
    np.testing.assert_array_equal(dist.predict(Xq).compute(), local.predict(X))
    np.testing.assert_array_equal(dist.transform(Xq).compute(), local.transform(X))


def test_unsupported_inputs_raise_clear_errors(client):
    X, _ = blobs(600, 4, np.float64)
    km = KMeans(n_clusters=3, init=X[:3].copy(), n_init=1)
    with pytest.raises(ValueError, match="chunked along the features"):
        km.fit(da.from_array(X, chunks=(300, 2)))
    with pytest.raises(TypeError, match="float32 and float64"):
        km.fit(da.from_array(X.astype(np.int64), chunks=300))
    with pytest.raises(ValueError, match="n_samples=2 should be >= n_clusters=3"):
        km.fit(da.from_array(X[:2], chunks=(1, 4)))
    with pytest.raises(ValueError, match="expecting 4 features"):
        km.fit(da.from_array(X, chunks=300)).score(da.from_array(X[:, :3], chunks=300))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elkan_runs_lloyd_and_score_is_the_single_machine_score(client, dtype):
    from sklearn.cluster import KMeans as SkKMeans

    X, w = blobs(3000, 3, dtype, seed=9)
    C0 = X[:5].copy()
    dist = KMeans(n_clusters=5, init=C0, n_init=1, algorithm="elkan").fit(
        da.from_array(X, chunks=(700, 3)), sample_weight=w
    )
    for algorithm in ("lloyd", "elkan"):
        local = sklearn_rs.KMeans(n_clusters=5, init=C0, n_init=1, algorithm=algorithm)
        assert_same_fit(local.fit(X, sample_weight=w), dist)
    reference = SkKMeans(n_clusters=5, init=C0, n_init=1).fit(X, sample_weight=w)
    Xq = da.from_array(X[::-1], chunks=((1, 999, 2000), 3))
    for weights in (None, w):
        score = dist.score(Xq, sample_weight=weights)
        assert isinstance(score, float)
        assert score == local.score(X[::-1], sample_weight=weights)
        expected = reference.score(X[::-1], sample_weight=weights)
        np.testing.assert_allclose(score, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_workers_report_versions_and_threads(client):
    info = client.run(worker_info)
    assert len(info) == 2
    for worker in info.values():
        assert worker["sklearn_rs"] == sklearn_rs.__version__
        # The Rust pool follows the worker's OMP_NUM_THREADS (which a Nanny sets to 1 unless
        # the environment it starts from sets it).
        assert worker["rust_threads"] == int(worker["OMP_NUM_THREADS"])


def test_worker_killed_mid_fit_gives_the_same_answer(client):
    X, w = blobs(4000, 3, np.float64, seed=8)
    C0 = X[:6].copy()
    local = sklearn_rs.KMeans(n_clusters=6, init=C0, n_init=1, tol=0).fit(X, sample_weight=w)
    assert local.n_iter_ > 2
    dist = KMeans(n_clusters=6, init=C0, n_init=1, tol=0)
    victim, pid = sorted(client.run(os.getpid).items())[0]

    def kill_after_first_iteration(iteration):
        if iteration == 0:
            # The Nanny restarts the worker; its chunks and labels are recomputed from
            # their lineage when the next iteration needs them.
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 20
            while victim in client.scheduler_info()["workers"] and time.monotonic() < deadline:
                time.sleep(0.05)

    dist._after_iteration = kill_after_first_iteration
    try:
        dist.fit(da.from_array(X, chunks=700), sample_weight=w)
    except Exception as e:  # a clear error is acceptable, a wrong answer is not
        pytest.fail(f"the fit did not recover from a lost worker: {e!r}")
    assert_same_fit(local, dist)
    client.wait_for_workers(2, timeout=30)
    assert pid not in client.run(os.getpid).values()  # the worker was indeed replaced


# StandardScaler and PCA: the fitted statistics of the single-machine estimator on the
# gathered data, bitwise, for one chunk, many and ragged ones.


def offset_data(n, d, dtype, seed=0, nan_every=0):
    """Values far from zero (their sums lose bits, so another summation order would show)."""
    rng = np.random.default_rng(seed)
    X = 1e4 + rng.normal(scale=3.0, size=(n, d)) * rng.uniform(0.1, 10, size=d)
    if nan_every:
        X.ravel()[3::nan_every] = np.nan
    w = rng.uniform(0.1, 3.0, size=n)
    return X.astype(dtype), w.astype(dtype)


SCALER_ATTRIBUTES = ("mean_", "var_", "scale_", "n_samples_seen_")


def assert_same_attributes(local, dist, names):
    for name in names:
        expected, got = getattr(local, name), getattr(dist, name)
        if expected is None:
            assert got is None, name
        else:
            np.testing.assert_array_equal(got, expected, strict=True, err_msg=name)


@pytest.mark.parametrize("chunking", sorted(CHUNKINGS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_scaler_fit_equals_single_machine_for_any_chunking(client, chunking, dtype, weighted):
    from sklearn.preprocessing import StandardScaler as SkStandardScaler

    n = 2000
    X, w = offset_data(n, 4, dtype, nan_every=53 if weighted else 0)
    sw = w if weighted else None
    local = sklearn_rs.StandardScaler().fit(X, sample_weight=sw)
    Xd = da.from_array(X, chunks=(CHUNKINGS[chunking](n), 4))
    dist = StandardScaler().fit(Xd, sample_weight=sw)
    assert_same_attributes(local, dist, SCALER_ATTRIBUTES)
    reference = SkStandardScaler().fit(X, sample_weight=sw)
    np.testing.assert_allclose(dist.mean_, reference.mean_, rtol=1e-12)
    np.testing.assert_allclose(dist.var_, reference.var_, rtol=1e-9)
    Z = dist.transform(Xd)
    assert isinstance(Z, da.Array) and Z.dtype == dtype
    np.testing.assert_array_equal(Z.compute(), local.transform(X))
    np.testing.assert_array_equal(
        dist.inverse_transform(Z).compute(), local.inverse_transform(local.transform(X))
    )


@pytest.mark.parametrize(
    "params", [dict(with_mean=False), dict(with_std=False), dict(with_mean=False, with_std=False)]
)
def test_scaler_options_and_weights_as_dask_array(client, params):
    X, w = offset_data(1500, 3, np.float64, seed=2, nan_every=41)
    Xd, wd = da.from_array(X, chunks=(400, 3)), da.from_array(w, chunks=700)
    local = sklearn_rs.StandardScaler(**params).fit(X, sample_weight=w)
    dist = StandardScaler(**params).fit(Xd, sample_weight=wd)
    assert_same_attributes(local, dist, SCALER_ATTRIBUTES)
    np.testing.assert_array_equal(dist.transform(Xd).compute(), local.transform(X))


def test_scaler_one_feature_agrees_to_rounding(client):
    # One column is summed pairwise by NumPy (and the single-machine fit): no chain of chunks
    # reproduces that order, so only rounding-level agreement is promised.
    X, _ = offset_data(3000, 1, np.float64, seed=3)
    local = sklearn_rs.StandardScaler().fit(X)
    dist = StandardScaler().fit(da.from_array(X, chunks=700))
    np.testing.assert_allclose(dist.mean_, local.mean_, rtol=1e-13)
    np.testing.assert_allclose(dist.var_, local.var_, rtol=1e-9)
    assert dist.n_samples_seen_ == local.n_samples_seen_


@pytest.mark.parametrize("d", [1, 3])
def test_scaler_partial_fit_adds_chunks_as_batches(client, d):
    X, w = offset_data(1800, d, np.float32, seed=4)
    Xd = da.from_array(X, chunks=((500, 1, 799, 500), d))
    local = sklearn_rs.StandardScaler()
    for start, stop in [(0, 500), (500, 501), (501, 1300), (1300, 1800)]:
        local.partial_fit(X[start:stop], sample_weight=w[start:stop])
    local.partial_fit(X[:300])
    dist = StandardScaler().partial_fit(Xd, sample_weight=w)
    dist.partial_fit(da.from_array(X[:300], chunks=300))
    assert_same_attributes(local, dist, SCALER_ATTRIBUTES)


def test_scaler_to_local_pickles_and_errors(client):
    X, _ = offset_data(600, 3, np.float64, seed=5)
    dist = StandardScaler().fit(da.from_array(X, chunks=(200, 3)))
    local = pickle.loads(pickle.dumps(dist.to_local()))
    assert type(local) is sklearn_rs.StandardScaler
    np.testing.assert_array_equal(local.transform(X), dist.transform(da.from_array(X)).compute())
    with pytest.raises(ValueError, match="needs whole rows"):
        StandardScaler().fit(da.from_array(X, chunks=(200, 2)))
    with pytest.raises(TypeError, match="float32 and float64"):
        StandardScaler().fit(da.from_array(X.astype(np.int64), chunks=(200, 3)))
    bad = X.copy()
    bad[7, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        StandardScaler().fit(da.from_array(bad, chunks=(200, 3)))
    with pytest.raises(ValueError, match="expecting 3 features"):
        dist.transform(da.from_array(X[:, :2]))


PCA_ATTRIBUTES = (
    "components_", "explained_variance_", "explained_variance_ratio_", "singular_values_",
    "mean_", "n_components_", "noise_variance_", "n_samples_", "n_features_in_",
)


@pytest.mark.parametrize("chunking", sorted(CHUNKINGS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pca_fit_equals_single_machine_for_any_chunking(client, chunking, dtype):
    from sklearn.decomposition import PCA as SkPCA

    n = 2000
    X, _ = offset_data(n, 5, dtype, seed=6)
    local = sklearn_rs.PCA(n_components=3, svd_solver="covariance_eigh").fit(X)
    Xd = da.from_array(X, chunks=(CHUNKINGS[chunking](n), 5))
    dist = PCA(n_components=3, svd_solver="covariance_eigh").fit(Xd)
    assert_same_attributes(local, dist, PCA_ATTRIBUTES)
    # scikit-learn's own covariance_eigh forms X^T X - n m m^T, which loses every digit in
    # float32 with this offset; its exact SVD of the float64 data is the reference.
    reference = SkPCA(n_components=3, svd_solver="full").fit(X.astype(np.float64))
    rtol = 1e-3 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(dist.explained_variance_, reference.explained_variance_, rtol=rtol)
    Z = dist.transform(Xd)
    assert isinstance(Z, da.Array) and Z.dtype == dtype
    np.testing.assert_allclose(Z.compute(), local.transform(X), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(
        dist.inverse_transform(Z).compute(), local.inverse_transform(local.transform(X)),
        rtol=1e-5,
    )


@pytest.mark.parametrize("n_components", [None, 0.9, "mle"])
def test_pca_auto_whiten_and_blocks_realigned(client, n_components):
    # 20000 rows: blocks of several 256-row chunks, which chunks of 3000 rows do not follow.
    X, _ = offset_data(20000, 4, np.float64, seed=7)
    params = dict(n_components=n_components, whiten=True)
    local = sklearn_rs.PCA(svd_solver="covariance_eigh", **params).fit(X)
    dist = PCA(**params).fit(da.from_array(X, chunks=(3000, 4)))
    assert dist._fit_svd_solver == "covariance_eigh"
    assert_same_attributes(local, dist, PCA_ATTRIBUTES)


def test_pca_to_local_pickles_and_errors(client):
    X, _ = offset_data(600, 3, np.float32, seed=8)
    Xd = da.from_array(X, chunks=(200, 3))
    dist = PCA(n_components=2).fit(Xd)
    local = pickle.loads(pickle.dumps(dist.to_local()))
    assert type(local) is sklearn_rs.PCA
    np.testing.assert_allclose(local.transform(X), dist.transform(Xd).compute(), rtol=1e-5)
    with pytest.raises(NotImplementedError, match="covariance_eigh"):
        PCA(svd_solver="full").fit(Xd)
    with pytest.raises(NotImplementedError, match="covariance_eigh"):
        PCA().fit(da.from_array(X[:20], chunks=(10, 3)))  # 'auto' would not pick it
    with pytest.raises(ValueError, match="needs whole rows"):
        PCA().fit(da.from_array(X, chunks=(200, 2)))
    with pytest.raises(TypeError, match="float32 and float64"):
        PCA().fit(da.from_array(X.astype(np.int32), chunks=(200, 3)))
    with pytest.raises(ValueError, match="must be between 0 and"):
        PCA(n_components=4, svd_solver="covariance_eigh").fit(Xd)
    bad = X.copy()
    bad[5, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        PCA().fit(da.from_array(bad, chunks=(200, 3)))


def test_kmeans_parallel_init_finds_the_clusters(client):
    # k-means|| draws depend on the chunking (not the single-machine k-means++ draws): the
    # fit must still find well-separated clusters as scikit-learn's k-means++ does, and be
    # reproducible for a random_state and chunking.
    from sklearn.cluster import KMeans as SkKMeans
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(10)
    centers = np.array([[0, 0, 0], [20, 0, 0], [0, 20, 0], [0, 0, 20], [20, 20, 20]], float)
    truth = rng.integers(0, 5, size=4000)
    X = (centers[truth] + rng.normal(size=(4000, 3))).astype(np.float32)
    w = rng.uniform(0.5, 2.0, size=4000).astype(np.float32)
    Xd = da.from_array(X, chunks=(900, 3))
    dist = KMeans(n_clusters=5, init="k-means||", random_state=0).fit(Xd, sample_weight=w)
    again = KMeans(n_clusters=5, init="k-means||", random_state=0).fit(Xd, sample_weight=w)
    np.testing.assert_array_equal(dist.cluster_centers_, again.cluster_centers_)
    reference = SkKMeans(n_clusters=5, random_state=0).fit(X, sample_weight=w)
    assert adjusted_rand_score(reference.labels_, dist.labels_.compute()) == 1.0
    assert dist.inertia_ <= reference.inertia_ * (1 + 1e-5)
    assert dist.to_local().init == "k-means++"
