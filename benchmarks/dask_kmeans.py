"""KMeans on a dask array (``sklearn_rs.dask``) against the single-process ``sklearn_rs.KMeans``.

``python -m benchmarks.dask_kmeans [n_samples] [n_features] [n_workers]`` generates float32
blobs on the workers of a local cluster (``n_workers`` processes x 1 thread, default 2), fits
``n_clusters=8`` Lloyd iterations from the same initial centers on the dask array and, on the
gathered array, with sklearn_rs in this process on ``n_workers`` threads, and prints per
iteration: the distributed and single-process times, their ratio, and the scheduler overhead
(the same fit on as many tiny chunks, where the kernels take microseconds). It checks that
both fits agree bitwise. Default size: the 20M x 20 float32 (1.6 GB) of the issue that asked
for it. (Not an asv suite: it starts a cluster.)
"""

import sys
import time

import numpy as np

N_CLUSTERS = 8
MAX_ITER = 10
N_CHUNKS_PER_WORKER = 4


def _timed_fit(estimator, X):
    """The fit's wall time and the median time between iterations."""
    stamps = []
    estimator._after_iteration = lambda iteration: stamps.append(time.perf_counter())
    start = time.perf_counter()
    estimator.fit(X)
    total = time.perf_counter() - start
    del estimator._after_iteration
    return total, float(np.median(np.diff(stamps))) if len(stamps) > 1 else total


def main(n_samples=20_000_000, n_features=20, n_workers=2):
    import dask.array as da
    from distributed import Client, LocalCluster
    from threadpoolctl import threadpool_limits

    import sklearn_rs
    from sklearn_rs.dask import KMeans

    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    n_chunks = n_workers * N_CHUNKS_PER_WORKER
    rs = da.random.RandomState(0)
    X = (rs.standard_normal((n_samples, n_features), chunks=(-(-n_samples // n_chunks), -1))
         .astype(np.float32))
    X = client.persist(X)
    C0 = X[:N_CLUSTERS].compute()
    params = dict(n_clusters=N_CLUSTERS, init=C0, n_init=1, max_iter=MAX_ITER, tol=0)
    print(f"X: {n_samples} x {n_features} float32 in {n_chunks} chunks, "
          f"{n_workers} workers x 1 thread; single process: {n_workers} threads")

    tiny = da.from_array(np.asarray(X[: 256 * n_chunks].compute()), chunks=(256, -1))
    _, overhead = _timed_fit(KMeans(**params), tiny)

    dist = KMeans(**params)
    dist_total, dist_iter = _timed_fit(dist, X)
    X_local = np.require(X.compute(), requirements=["C", "A"])
    with threadpool_limits(n_workers, user_api="sklearn_rs"):
        start = time.perf_counter()
        local = sklearn_rs.KMeans(**params).fit(X_local)
        local_total = time.perf_counter() - start
    # Single process: n_iter assignment + update passes, one final assignment and the inertia.
    local_iter = local_total / (local.n_iter_ + 1)
    same = (np.array_equal(dist.cluster_centers_, local.cluster_centers_)
            and dist.n_iter_ == local.n_iter_ and dist.inertia_ == local.inertia_)
    print(f"per iteration: dask {dist_iter * 1e3:.1f} ms, single process "
          f"{local_iter * 1e3:.1f} ms, ratio {dist_iter / local_iter:.2f}")
    print(f"whole fit ({local.n_iter_} iterations): dask {dist_total:.2f} s, single process "
          f"{local_total:.2f} s, ratio {dist_total / local_total:.2f}")
    print(f"scheduler overhead per iteration ({n_chunks} tiny chunks): {overhead * 1e3:.1f} ms")
    print(f"bitwise equal: {same}")
    client.close()
    cluster.close()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
