"""k-means++ over the chunks of a dask array, with the single-machine fit's draws.

scikit-learn's greedy k-means++ (``kmeans::init::kmeans_plusplus``) takes the same uniforms
from ``random_state``; each further center is one round trip: the cumulative sum of
``sample_weight * D^2`` runs through the chunks in order (a chain of tasks passing the running
sum, in the samples' dtype, as the single-machine loop sums it), the candidates are searched in
the chunks that hold them, and their potentials are per-block sums of the single-machine
partition added in block order. The distances to the chosen centers stay on the workers.
"""

import numpy as np

from sklearn_rs._kmeans_common import check_probabilities
from sklearn_rs._threads import _core, effective_n_threads
from sklearn_rs.dask._blocks import aligned, block_futures, block_offsets, contiguous


def _lower(x, y, closest):
    return _core.kmeanspp_lower(
        contiguous(x), contiguous(y), None if closest is None else contiguous(closest),
        effective_n_threads(),
    )


def _potential(w, closest, start):
    return _core.kmeanspp_potential(contiguous(w), contiguous(closest), start)


def _cumsum_end(w, closest, start):
    return _core.kmeanspp_cumsum(contiguous(w), contiguous(closest), start)[0]


def _cumsum_search(w, closest, start, values):
    return _core.kmeanspp_cumsum(contiguous(w), contiguous(closest), start, list(values))[1]


def _candidate_potentials(x, w, closest, ys, rows):
    return _core.kmeanspp_candidate_potentials(
        contiguous(x), contiguous(w), contiguous(closest), contiguous(ys), rows,
        effective_n_threads(),
    )


def _row(x, i):
    return np.array(x[i])


def kmeans_plusplus(client, X, w, n_clusters, random_state, n_local_trials=None):
    """The ``(n_clusters, d)`` centers single-machine k-means++ draws from ``random_state``."""
    dtype = X.dtype.type
    n, d = X.shape
    trials = 2 + int(np.log(n_clusters)) if n_local_trials is None else n_local_trials
    uniforms = random_state.random_sample(1 + (n_clusters - 1) * trials)
    weights = contiguous(w.compute())
    check_probabilities(weights)

    rows = _core.rows_per_block(n, 0)
    X = aligned(X, rows)
    w = w.rechunk({0: X.chunks[0]})
    X, w = client.persist([X, w])
    xs, ws = block_futures(X), block_futures(w)
    sizes = [int(m) for m in X.chunks[0]]
    offsets = block_offsets(sizes)
    submit = client.submit

    def fetch(index):
        b = int(np.searchsorted(offsets, index, side="right") - 1)
        return client.submit(_row, xs[b], index - offsets[b], pure=False).result()

    def chain(func, start, *extra):
        """``func`` over the chunks in order, each continuing the previous one's sum."""
        futures, previous = [], start
        for x_w, c in zip(ws, closest):
            previous = submit(func, x_w, c, previous, *extra, pure=False)
            futures.append(previous)
        return futures

    centers = np.empty((n_clusters, d), dtype=X.dtype)
    centers[0] = fetch(_core.kmeanspp_first(weights, float(uniforms[0])))
    closest = [submit(_lower, x, centers[0], None, pure=False) for x in xs]
    potential = float(dtype(client.gather(chain(_potential, 0.0))[-1]))
    for c in range(1, n_clusters):
        values = uniforms[1 + (c - 1) * trials: 1 + c * trials] * potential
        ends = client.gather(chain(_cumsum_end, 0.0))
        starts = [0.0] + ends[:-1]
        candidates = []
        for v in values:
            # The cumulative sum never decreases: the first chunk whose last value reaches v
            # holds the index (numpy's searchsorted, clipped to the last sample).
            b = next((b for b, end in enumerate(ends) if end >= v), None)
            if b is None:
                candidates.append(n - 1)
                continue
            found = submit(_cumsum_search, ws[b], closest[b], starts[b], [v], pure=False)
            candidates.append(offsets[b] + found.result()[0])
        ys = np.vstack([fetch(i) for i in candidates])
        parts = client.gather([
            submit(_candidate_potentials, x, x_w, cl, ys.ravel(), rows, pure=False)
            for x, x_w, cl in zip(xs, ws, closest)
        ])
        pots = _core.kmeanspp_combine(contiguous(np.vstack(parts)))
        pots = [float(dtype(p)) for p in pots]
        best = min(range(trials), key=lambda t: (pots[t], t))
        potential = pots[best]
        centers[c] = ys[best]
        closest = [submit(_lower, x, ys[best], cl, pure=False) for x, cl in zip(xs, closest)]
    return centers


# k-means|| (Bahmani et al., "Scalable k-means++", 2012): a few rounds, each sampling many
# candidates at once in every chunk, instead of one round trip per center. Its draws depend on
# the chunking and are not those of the single-machine k-means++.

_ROWS_PER_SLICE = 1 << 15


def _lowered(x, ys, closest):
    """``closest`` lowered by every center of ``ys`` (rows): one blocked distance product per
    slice of rows (a pass per center would read the chunk once per candidate)."""
    x = contiguous(x)
    if len(ys) == 1:
        return _lower(x, ys[0], closest)
    out = np.full(x.shape[0], np.inf) if closest is None else np.array(closest)
    centers = contiguous(ys, dtype=x.dtype).ravel()
    for start in range(0, x.shape[0], _ROWS_PER_SLICE):
        rows = slice(start, start + _ROWS_PER_SLICE)
        nearest = _core.transform(x[rows], centers, effective_n_threads()).min(axis=1)
        np.minimum(out[rows], np.square(nearest, dtype=np.float64), out=out[rows])
    return out


def _chunk_potential(w, closest):
    return _core.kmeanspp_potential(contiguous(w), contiguous(closest), 0.0)


def _oversample(x, w, closest, factor, potential, seed):
    """Each sample independently with probability ``min(1, factor w D^2 / potential)``."""
    p = np.minimum(1.0, factor * np.asarray(w, dtype=np.float64) * closest / potential)
    chosen = np.random.default_rng(seed).random(len(p)) < p
    return np.array(x[chosen])


def _candidate_weights(x, w, candidates):
    from sklearn_rs.dask._blocks import predict_block

    labels = predict_block(x, candidates.ravel())
    return np.bincount(labels, weights=np.asarray(w, dtype=np.float64),
                       minlength=candidates.shape[0])


def kmeans_parallel(client, X, w, n_clusters, random_state, n_rounds=5, oversampling=2.0):
    """``(n_clusters, d)`` centers by k-means||: ``n_rounds`` rounds drawing about
    ``oversampling * n_clusters`` candidates each, weighted by the sample weight they are
    closest to, then reduced to ``n_clusters`` by weighted k-means++ and Lloyd
    (``sklearn_rs.KMeans``) on the client."""
    from sklearn_rs._kmeans import KMeans as _LocalKMeans

    weights = contiguous(w.compute())
    check_probabilities(weights)
    X, w = client.persist([X, w])
    xs, ws = block_futures(X), block_futures(w)
    sizes = [int(m) for m in X.chunks[0]]
    offsets = block_offsets(sizes)
    submit = client.submit

    p = weights.astype(np.float64)
    first = int(random_state.choice(len(p), p=p / p.sum()))
    b = int(np.searchsorted(offsets, first, side="right") - 1)
    candidates = submit(_row, xs[b], first - offsets[b], pure=False).result()[None, :]
    closest = [submit(_lowered, x, candidates, None, pure=False) for x in xs]
    factor = oversampling * n_clusters
    for _ in range(n_rounds):
        potential = sum(client.gather([
            submit(_chunk_potential, x_w, c, pure=False) for x_w, c in zip(ws, closest)
        ]))
        if potential == 0:
            break
        seeds = random_state.randint(np.iinfo(np.int32).max, size=len(xs))
        drawn = [a for a in client.gather([
            submit(_oversample, x, x_w, c, factor, potential, int(s), pure=False)
            for x, x_w, c, s in zip(xs, ws, closest, seeds)
        ]) if len(a)]
        if not drawn:
            continue
        new = contiguous(np.vstack(drawn), dtype=X.dtype)
        candidates = np.vstack([candidates, new])
        closest = [submit(_lowered, x, new, c, pure=False) for x, c in zip(xs, closest)]
    candidates = contiguous(candidates, dtype=X.dtype)
    if candidates.shape[0] <= n_clusters:
        raise ValueError(
            f"k-means|| drew {candidates.shape[0]} candidates for n_clusters={n_clusters}; "
            "use init='k-means++' (the data may hold fewer distinct points than clusters)."
        )
    candidate_weights = np.sum(client.gather([
        submit(_candidate_weights, x, x_w, candidates, pure=False) for x, x_w in zip(xs, ws)
    ]), axis=0)
    keep = candidate_weights > 0
    local = _LocalKMeans(
        n_clusters=n_clusters, init="k-means++", n_init=1, random_state=random_state
    ).fit(candidates[keep], sample_weight=candidate_weights[keep].astype(X.dtype))
    return contiguous(local.cluster_centers_, dtype=X.dtype)
