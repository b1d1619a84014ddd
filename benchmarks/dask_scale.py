"""StandardScaler and PCA on a dask array (``sklearn_rs.dask``) against the single-process
``sklearn_rs`` estimators.

``python -m benchmarks.dask_scale [n_samples] [n_features] [n_workers] [repeats]`` generates
float32 data on the workers of a local cluster (``n_workers`` processes x 1 thread, default
2, ``4 n_workers`` chunks), fits ``StandardScaler`` (``fit``: the exact chained passes;
``partial_fit``: chunks as batches, in parallel) and ``PCA(svd_solver="covariance_eigh")`` on
the dask array and, on the gathered array, with sklearn_rs in this process on ``n_workers``
threads, interleaved, and prints the median times and their ratios. It checks that the
fitted statistics agree bitwise. (Not an asv suite: it starts a cluster.)
"""

import sys
import time

import numpy as np


def _median_time(fit, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fit()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(n_samples=4_000_000, n_features=20, n_workers=2, repeats=3):
    import dask.array as da
    from distributed import Client, LocalCluster
    from threadpoolctl import threadpool_limits

    import sklearn_rs
    from sklearn_rs import dask as rs_dask
    from sklearn_rs._threads import _core

    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    n_chunks = 4 * n_workers
    rs = da.random.RandomState(0)
    X = (rs.standard_normal((n_samples, n_features), chunks=(-(-n_samples // n_chunks), -1))
         + 100.0).astype(np.float32)
    X = client.persist(X)
    X_local = np.require(X.compute(), requirements=["C", "A"])
    print(f"X: {n_samples} x {n_features} float32 in {n_chunks} chunks, "
          f"{n_workers} workers x 1 thread; single process: {n_workers} threads; "
          f"median of {repeats}")

    cases = [
        ("StandardScaler.fit", lambda: rs_dask.StandardScaler(),
         lambda: sklearn_rs.StandardScaler(), "fit", ("mean_", "var_")),
        ("StandardScaler.partial_fit", lambda: rs_dask.StandardScaler(),
         lambda: sklearn_rs.StandardScaler(), "partial_fit", ()),
        ("PCA covariance_eigh", lambda: rs_dask.PCA(n_components=5, svd_solver="covariance_eigh"),
         lambda: sklearn_rs.PCA(n_components=5, svd_solver="covariance_eigh"), "fit",
         ("components_", "explained_variance_")),
    ]
    # The same data in chunks that start on PCA's block boundaries (no realignment).
    rows = _core.pca_rows_per_block(n_samples, n_features)
    per_chunk = rows * -(-n_samples // (n_chunks * rows))
    X_aligned = client.persist(X.rechunk({0: per_chunk}))
    cases.append((
        f"PCA, chunks of {per_chunk} rows",
        lambda: rs_dask.PCA(n_components=5, svd_solver="covariance_eigh"),
        lambda: sklearn_rs.PCA(n_components=5, svd_solver="covariance_eigh"), "fit",
        ("components_", "explained_variance_"), X_aligned,
    ))
    for name, make_dist, make_local, method, compared, *data in cases:
        dist, local = make_dist(), make_local()
        X_dist = data[0] if data else X
        with threadpool_limits(n_workers):
            t_local = _median_time(lambda: getattr(local, method)(X_local), repeats)
        t_dist = _median_time(lambda: getattr(dist, method)(X_dist), repeats)
        same = all(np.array_equal(getattr(dist, a), getattr(local, a)) for a in compared)
        print(f"{name:28s} distributed {t_dist * 1e3:8.0f} ms   single process "
              f"{t_local * 1e3:8.0f} ms   ratio {t_dist / t_local:5.2f}x"
              + (f"   bitwise equal: {same}" if compared else ""))
    client.close()
    cluster.close()


if __name__ == "__main__":
    main(*[int(a) for a in sys.argv[1:]])
