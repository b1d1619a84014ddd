"""Row-chunked dask arrays as the Rust reductions need them, and the tasks that run on the
workers.

The single-machine kernels cut the samples into a fixed partition (``kernels::blocks``: blocks
of whole 256-row chunks, their number fixed by the shape) and add the blocks' partial results
in block order. A chunk of the dask array that starts at a multiple of the partition's block
size is cut by the worker into blocks of that same partition, so the partial results it
returns are leaves of the single-machine reduction, and the client adds them in the same
order: the same bits for any chunking. Chunks that do not start on a block boundary are
merged (``aligned``) until they do.
"""

import numpy as np

from sklearn_rs._threads import _core, effective_n_threads

SUPPORTED_DTYPES = (np.float32, np.float64)


def check_dask_array(X, name="X"):
    """A 2-D row-chunked float32/float64 dask array (a NumPy array becomes one chunk)."""
    import dask.array as da

    if not isinstance(X, da.Array):
        X = da.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-D {name}, got a dask array of shape {X.shape}."
        )
    if X.dtype not in SUPPORTED_DTYPES:
        raise TypeError(
            f"sklearn_rs.dask supports float32 and float64 data, got {name} of dtype "
            f"{X.dtype}; convert it first, for example {name}.astype(np.float64)."
        )
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError(
            f"{name} has unknown chunk sizes; call {name}.compute_chunk_sizes() first."
        )
    if len(X.chunks[1]) != 1:
        raise ValueError(
            f"{name} is chunked along the features (chunks {X.chunks[1]}); sklearn_rs.dask "
            f"needs whole rows in every chunk: use {name}.rechunk({{1: -1}})."
        )
    return X


def aligned_chunks(row_chunks, rows_per_block):
    """Row chunks whose every boundary is a multiple of ``rows_per_block`` (or the end): each
    boundary is moved up to the next block boundary and empty chunks are dropped."""
    n = int(sum(row_chunks))
    bounds, start = [], 0
    for size in row_chunks:
        start += int(size)
        bound = min(-(-start // rows_per_block) * rows_per_block, n)
        if bound > (bounds[-1] if bounds else 0):
            bounds.append(bound)
    return tuple(np.diff([0] + bounds).tolist()) if bounds else (0,)


def aligned(array, rows_per_block):
    """``array`` rechunked along rows so that every chunk starts on a block boundary (the
    array itself when it already does)."""
    chunks = aligned_chunks(array.chunks[0], rows_per_block)
    if chunks == tuple(array.chunks[0]):
        return array
    return array.rechunk({0: chunks})


def block_offsets(row_chunks):
    return np.concatenate([[0], np.cumsum(row_chunks)[:-1]]).astype(int).tolist()


def block_futures(persisted):
    """The futures of a persisted array's chunks, in row order."""
    from dask.core import flatten
    from distributed import futures_of

    by_key = {f.key: f for f in futures_of(persisted)}
    return [by_key[key] for key in flatten(persisted.__dask_keys__())]


# Tasks run on the workers. Each uses the Rust pool as any sklearn_rs call does
# (OMP_NUM_THREADS, which a Nanny sets to 1 for its worker, or threadpoolctl's limit).

def contiguous(a, dtype=None):
    """The chunk as the Rust bindings take it: C-contiguous and aligned (a chunk received
    from another worker can sit unaligned in the message buffer). No copy when it is."""
    return np.require(a, dtype=dtype, requirements=["C", "A"])


def assign_task(x, w, centers, previous, rows_per_block, accumulate):
    labels = None if previous is None else contiguous(previous[0])
    return _core.kmeans_block_assign(
        contiguous(x), contiguous(w), contiguous(centers), labels, rows_per_block, accumulate,
        effective_n_threads(),
    )


def summary_task(step):
    """What the client needs of an assignment step: whether labels changed, the block sums."""
    return step[1:]


def labels_task(step):
    return step[0]


def farthest_task(x, w, centers, step, n_far, offset):
    return _core.kmeans_block_farthest(
        contiguous(x), contiguous(w), contiguous(centers), contiguous(step[0]), n_far, offset,
        effective_n_threads(),
    )


def inertia_task(x, w, centers, labels, rows_per_block):
    parts = _core.kmeans_block_inertia(
        contiguous(x), contiguous(w), contiguous(centers), labels, rows_per_block,
        effective_n_threads(),
    )
    return np.asarray(parts, dtype=np.float64)


def moments_task(x, rows_per_block, mean):
    return _core.moment_block_sums(
        contiguous(x), rows_per_block, None if mean is None else contiguous(mean),
        effective_n_threads(),
    )


def mapping_task(labels, other, n_clusters):
    """The relabelling from ``labels`` to ``other`` on this chunk (-1: cluster not seen), or
    None when a cluster maps to two (``kmeans::same_clustering`` on the whole)."""
    pairs = np.unique(labels.astype(np.int64) * n_clusters + other)
    source, target = pairs // n_clusters, pairs % n_clusters
    if len(np.unique(source)) < len(source):
        return None
    mapping = np.full(n_clusters, -1, dtype=np.int64)
    mapping[source] = target
    return mapping


def predict_block(x, centers):
    # Labels from the same blocked search as the fit (not scikit-learn's arithmetic for small
    # problems), so they do not depend on how X is chunked.
    x = contiguous(x)
    labels, _, _, _ = _core.kmeans_block_assign(
        x, np.ones(x.shape[0], dtype=x.dtype), contiguous(centers), None, 1 << 30, False,
        effective_n_threads(),
    )
    return labels


def transform_block(x, centers):
    return _core.transform(contiguous(x), contiguous(centers), effective_n_threads())


def worker_info():
    """Versions and thread settings of a worker (``client.run(worker_info)``)."""
    import os

    import threadpoolctl

    import sklearn_rs

    return {
        "sklearn_rs": sklearn_rs.__version__,
        "rust_threads": effective_n_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "threadpools": [
            {k: p[k] for k in ("user_api", "internal_api", "num_threads")}
            for p in threadpoolctl.threadpool_info()
        ],
    }
