"""K-means on a row-chunked dask array, on a dask.distributed cluster, with the results of
``sklearn_rs.KMeans`` on the gathered data.

Each Lloyd iteration runs one task per chunk on the worker that holds it (the Rust search and
the per-block cluster sums of ``kmeans::steps``); only the centers go out and the blocks'
partial sums come back, which the client adds in the single-machine fit's block order
(``_blocks``). The labels stay on the workers as futures: each iteration's task takes the
previous one's, so a lost chunk is recomputed from its lineage and the fit goes on with the
same bits.
"""

import warnings

import numpy as np
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import _is_arraylike_not_scalar, check_is_fitted

from sklearn_rs._kmeans import KMeans as _LocalKMeans
from sklearn_rs._kmeans_common import check_probabilities, rust_init
from sklearn_rs._threads import _core
from sklearn_rs.dask import _blocks
from sklearn_rs.dask._blocks import aligned, block_futures, check_dask_array


def _client():
    from distributed import default_client

    try:
        return default_client()
    except ValueError as e:
        raise ValueError(
            "sklearn_rs.dask needs a dask.distributed Client: create one first, for example "
            "Client(LocalCluster()) or Client('scheduler-address:8786')."
        ) from e


def _labels_array(label_futures, sizes):
    import dask
    import dask.array as da

    parts = [
        da.from_delayed(dask.delayed(_blocks.labels_task)(f), shape=(int(m),), dtype=np.int32)
        for f, m in zip(label_futures, sizes)
    ]
    return da.concatenate(parts) if len(parts) > 1 else parts[0]


class KMeans(_LocalKMeans):
    """``sklearn_rs.KMeans`` fitted on a row-chunked dask array on a dask.distributed cluster.

    Same parameters as ``sklearn.cluster.KMeans`` (``algorithm="elkan"`` runs Lloyd's
    iterations, which are Elkan's: its bounds only skip distance computations). With the same
    initial centers (an array, a callable, or ``init="k-means++"`` / ``"random"`` with the
    same ``random_state``, which take the same draws; k-means++ takes one round trip per
    center), ``cluster_centers_``, ``labels_``, ``inertia_`` and ``n_iter_`` are bitwise those
    of ``sklearn_rs.KMeans`` fitted on ``X.compute()``, for any chunking of X.
    ``init="k-means||"`` is the scalable initialisation (a few rounds drawing many candidates
    in every chunk, reduced on the client; its draws depend on the chunking). ``labels_``,
    ``predict`` and ``transform`` are lazy dask arrays; ``to_local()`` returns the fitted
    ``sklearn_rs.KMeans``.
    """

    # init="k-means||" too: the scalable initialisation (its draws depend on the chunking).
    _parameter_constraints = {
        **_LocalKMeans._parameter_constraints,
        "init": [StrOptions({"k-means++", "random", "k-means||"}), callable, "array-like"],
    }

    def _scaled_tol(self, X):
        """``tol`` times the mean feature variance, from the blocks of the single-machine
        partition: two passes (means, squared deviations) over the chunks."""
        if self.tol == 0:
            return 0
        n, d = X.shape
        rows = _core.rows_per_block(n, d)
        Xs = aligned(X, rows)
        per_chunk = tuple(-(-int(m) // rows) for m in Xs.chunks[0])

        def block_sums(mean):
            parts = Xs.map_blocks(
                _blocks.moments_task, rows, mean, dtype=np.float64,
                chunks=(per_chunk, (d,)),
            ).compute()
            return _core.combine_feature_sums(_blocks.contiguous(parts))

        mean = block_sums(None) / float(max(n, 1))
        return _core.mean_variance_of(block_sums(mean), n) * self.tol

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute k-means clustering of the dask array X (float32 or float64, chunked along
        rows only); ``sample_weight`` is None, a NumPy array or a dask array."""
        client = _client()
        X = check_dask_array(X)
        # algorithm="elkan" runs Lloyd: Elkan's iterations are Lloyd's (its bounds only skip
        # distances), and its (n, k) bounds would have to live on the workers.
        n, d = X.shape
        k = self.n_clusters
        if n < k:
            raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
        self.n_features_in_ = d
        w = self._dask_weights(sample_weight, X)
        rows = _core.rows_per_block(n, k * d + k)
        Xa = aligned(X, rows)
        wa = w.rechunk({0: Xa.chunks[0]})
        # Chunks kept C-contiguous on the workers, so no task copies them again.
        Xa = Xa.map_blocks(_blocks.contiguous, dtype=Xa.dtype)
        Xa, wa = client.persist([Xa, wa.map_blocks(_blocks.contiguous, dtype=wa.dtype)])
        self._check_params_vs_input(Xa)
        if self.n_init == "auto" and isinstance(self.init, str) and self.init == "k-means||":
            self._n_init = 1  # as for k-means++: one well-spread initialisation
        random_state = check_random_state(self.random_state)
        init = self.init
        if _is_arraylike_not_scalar(init):
            init = check_array(init, dtype=X.dtype, copy=True, order="C")
            self._validate_center_shape(X, init)

        run = _LloydRun(client, Xa, wa, rows, self)
        best = None
        for _ in range(self._n_init):
            centers_init = self._initial_centers(Xa, wa, init, random_state, client)
            if self.verbose:
                print("Initialization complete")
            result = run.fit(_blocks.contiguous(centers_init, dtype=X.dtype))
            if best is None or (
                result["inertia"] < best["inertia"]
                and not run.same_clustering(result["labels"], best["labels"])
            ):
                best = result

        labels = _labels_array(best["labels"], Xa.chunks[0])
        distinct = best["distinct"]
        if distinct < k:
            warnings.warn(
                f"Number of distinct clusters ({distinct}) found smaller than "
                f"n_clusters ({k}). Possibly due to duplicate points in X.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.cluster_centers_ = best["centers"]
        self._n_features_out = k
        self.labels_ = labels
        self.inertia_ = float(best["inertia"])
        self.n_iter_ = best["n_iter"]
        self._label_futures = best["labels"]
        return self

    def _dask_weights(self, sample_weight, X):
        import dask.array as da

        n = X.shape[0]
        if sample_weight is None:
            return da.ones(n, dtype=X.dtype, chunks=(X.chunks[0],))
        if not isinstance(sample_weight, da.Array):
            sample_weight = np.asarray(sample_weight)
            if sample_weight.ndim == 0:
                return da.full(n, sample_weight, dtype=X.dtype, chunks=(X.chunks[0],))
            sample_weight = da.from_array(
                sample_weight.astype(X.dtype, copy=False), chunks=(X.chunks[0],)
            )
        if sample_weight.ndim != 1 or sample_weight.shape[0] != n:
            raise ValueError(
                f"sample_weight.shape == {sample_weight.shape}, expected ({n},)!"
            )
        return sample_weight.astype(X.dtype).rechunk({0: X.chunks[0]})

    def _initial_centers(self, X, w, init, random_state, client):
        k = self.n_clusters
        if callable(init):
            centers = init(X, k, random_state=random_state)
            centers = check_array(np.asarray(centers), dtype=X.dtype, copy=False, order="C")
            self._validate_center_shape(X, centers)
            return centers
        if isinstance(init, str) and init == "random":
            # The indices depend on the weights only: numpy's choice on the RandomState's own
            # state, as the single-machine fit draws them; then the chosen rows are fetched.
            weights = _blocks.contiguous(w.compute())
            check_probabilities(weights)
            placeholder = np.zeros((X.shape[0], 1), dtype=X.dtype)
            _, indices = rust_init(
                placeholder, weights, k, True, random_state, self._rs_n_threads()
            )
            return _rows(X, indices)
        if isinstance(init, str) and init == "k-means++":
            from sklearn_rs.dask._init import kmeans_plusplus

            return kmeans_plusplus(client, X, w, k, random_state)
        if isinstance(init, str) and init == "k-means||":
            from sklearn_rs.dask._init import kmeans_parallel

            return kmeans_parallel(client, X, w, k, random_state)
        return init

    def _centers(self, X):
        return _blocks.contiguous(self.cluster_centers_, dtype=X.dtype).ravel()

    def predict(self, X):
        """Closest cluster of each sample, lazily (one task per chunk)."""
        check_is_fitted(self)
        X = self._check_dask_test_data(X)
        return X.map_blocks(
            _blocks.predict_block, self._centers(X), dtype=np.int32, drop_axis=1
        )

    def fit_predict(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).labels_

    def transform(self, X):
        """Distances of each sample to every center, lazily: a dask array ``(n, n_clusters)``."""
        check_is_fitted(self)
        X = self._check_dask_test_data(X)
        k = self.cluster_centers_.shape[0]
        return X.map_blocks(
            _blocks.transform_block, self._centers(X), dtype=X.dtype,
            chunks=(X.chunks[0], (k,)),
        )

    def fit_transform(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the weighted inertia of the dask array X against the fitted centers
        (a float): each chunk's samples labelled by the fit's search, their inertia summed
        over the blocks of the single-machine inertia's partition, in block order."""
        import dask.array as da

        check_is_fitted(self)
        _client()
        X = self._check_dask_test_data(X)
        n = X.shape[0]
        w = self._dask_weights(sample_weight, X)
        rows = _core.rows_per_block(n, 0)
        Xi = aligned(X, rows)
        chunks = Xi.chunks[0]
        per_chunk = tuple(-(-int(m) // rows) for m in chunks)
        parts = da.map_blocks(
            _score_chunk, Xi, w.rechunk({0: chunks})[:, None], centers=self._centers(X),
            rows=rows, dtype=np.float64, chunks=(per_chunk, (1,)),
        )
        return -_core.combine_in_order(parts.compute().ravel().tolist())

    def _check_dask_test_data(self, X):
        X = check_dask_array(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return X

    def to_local(self, labels=False):
        """The fitted ``sklearn_rs.KMeans`` (NumPy attributes), for pickling and serving.
        ``labels=True`` gathers ``labels_`` too (n integers on the client)."""
        check_is_fitted(self)
        local = _LocalKMeans(**self.get_params())
        local.init = np.array(self.init) if _is_arraylike_not_scalar(self.init) else (
            self.init if self.init in ("k-means++", "random") else "k-means++"
        )
        local.cluster_centers_ = np.array(self.cluster_centers_)
        local._n_features_out = self._n_features_out
        local.n_features_in_ = self.n_features_in_
        local.inertia_ = self.inertia_
        local.n_iter_ = self.n_iter_
        if labels:
            local.labels_ = np.asarray(self.labels_.compute())
        return local

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_label_futures", None)
        if "labels_" in state:
            # A lazy array of futures belongs to one client; pickle the local estimator.
            raise TypeError(
                "a fitted sklearn_rs.dask.KMeans holds futures of its cluster; pickle "
                "to_local() instead."
            )
        return state


def _rows(X, indices):
    """The rows ``indices`` of the dask array X, in that order, as a NumPy array."""
    indices = np.asarray(indices, dtype=np.int64)
    return _blocks.contiguous(X[indices].compute())


class _LloydRun:
    """Lloyd runs over persisted, aligned chunks: scikit-learn's loop (``kmeans::iterate``)
    with the assignment and the per-block sums on the workers."""

    def __init__(self, client, X, w, rows, estimator):
        self.client = client
        self.X, self.w = X, w
        self.x_blocks, self.w_blocks = block_futures(X), block_futures(w)
        self.sizes = [int(m) for m in X.chunks[0]]
        self.offsets = _blocks.block_offsets(self.sizes)
        self.rows = rows
        self.k = estimator.n_clusters
        self.max_iter = int(estimator.max_iter)
        self.tol = float(estimator._tol)
        self.verbose = bool(estimator.verbose)
        # A test hook: called with the iteration number after each iteration.
        self.after_iteration = getattr(estimator, "_after_iteration", None)

    def _assign(self, centers, previous, accumulate):
        m = len(self.x_blocks)
        # One batch of tasks per pass (client.map): fewer messages than a submit per chunk.
        return self.client.map(
            _blocks.assign_task, self.x_blocks, self.w_blocks, [centers] * m, previous,
            [self.rows] * m, [accumulate] * m, pure=False,
        )

    def fit(self, centers):
        client = self.client
        k, d = self.k, self.X.shape[1]
        centers = centers.ravel()
        steps = [None] * len(self.x_blocks)
        strict = False
        n_iter = 0
        for iteration in range(self.max_iter):
            n_iter = iteration + 1
            steps = self._assign(centers, steps, True)
            summaries = client.gather(client.map(_blocks.summary_task, steps, pure=False))
            changed = any(s[0] for s in summaries)
            sums = _blocks.contiguous(np.concatenate([s[1] for s in summaries]))
            weights = _blocks.contiguous(np.concatenate([s[2] for s in summaries]))
            if self.verbose:
                inertia = self._inertia(centers, steps)
                print(f"Iteration {iteration}, inertia {inertia}.")
            far = None
            empty = _empty_clusters(weights)
            if empty:
                far = self._farthest(centers, steps, len(empty))
            new_centers, shift = _core.kmeans_combine_update(sums, weights, centers, far)
            centers = _blocks.contiguous(new_centers).ravel()
            if self.after_iteration is not None:
                self.after_iteration(iteration)
            if not changed:
                strict = True
                if self.verbose:
                    print(f"Converged at iteration {iteration}: strict convergence.")
                break
            if shift <= self.tol:
                if self.verbose:
                    print(
                        f"Converged at iteration {iteration}: center shift {shift} "
                        f"within tolerance {self.tol}."
                    )
                break
        if not strict:
            steps = self._assign(centers, steps, False)
        inertia = self._inertia(centers, steps)
        distinct = self._distinct(steps)
        return {
            "labels": steps,
            "inertia": inertia,
            "centers": centers.reshape(k, d),
            "n_iter": n_iter,
            "distinct": distinct,
        }

    def _farthest(self, centers, steps, n_far):
        submit = self.client.submit
        parts = self.client.gather([
            submit(_blocks.farthest_task, x, w, centers, s, n_far, offset, pure=False)
            for x, w, s, offset in zip(self.x_blocks, self.w_blocks, steps, self.offsets)
        ])
        return {
            "any_off_center": any(p[0] for p in parts),
            "distances": np.concatenate([p[1] for p in parts]),
            "indices": np.concatenate([p[2] for p in parts]),
            "rows": _blocks.contiguous(np.concatenate([p[3] for p in parts])),
            "weights": np.concatenate([p[4] for p in parts]),
            "labels": np.concatenate([p[5] for p in parts]),
        }

    def _inertia(self, centers, steps):
        """The weighted inertia, from the blocks of the single-machine inertia's partition."""
        import dask.array as da

        n = self.X.shape[0]
        rows = _core.rows_per_block(n, 0)
        labels = _labels_array(steps, self.sizes)
        Xi = aligned(self.X, rows)
        chunks = Xi.chunks[0]
        wi, li = self.w.rechunk({0: chunks}), labels.rechunk({0: chunks})
        per_chunk = tuple(-(-int(m) // rows) for m in chunks)
        parts = da.map_blocks(
            _inertia_chunk, Xi, wi[:, None], li[:, None], centers=centers, rows=rows,
            dtype=np.float64, chunks=(per_chunk, (1,)),
        )
        return _core.combine_in_order(parts.compute().ravel().tolist())

    def _distinct(self, steps):
        counts = self.client.gather([
            self.client.submit(_distinct_labels, s, self.k, pure=False) for s in steps
        ])
        return int(np.count_nonzero(np.sum(counts, axis=0)))

    def same_clustering(self, labels, other):
        submit = self.client.submit
        mappings = self.client.gather([
            submit(_mapping, a, b, self.k, pure=False) for a, b in zip(labels, other)
        ])
        combined = np.full(self.k, -1, dtype=np.int64)
        for m in mappings:
            if m is None:
                return False
            seen = (m >= 0) & (combined >= 0)
            if np.any(m[seen] != combined[seen]):
                return False
            combined = np.where(combined >= 0, combined, m)
        return True


def _empty_clusters(weights):
    return [int(j) for j in np.flatnonzero(_core.kmeans_total_weights(weights) == 0)]


def _inertia_chunk(x, w, labels, centers, rows):
    return _blocks.inertia_task(
        x, _blocks.contiguous(w[:, 0]), centers, _blocks.contiguous(labels[:, 0]), rows
    )[:, None]


def _score_chunk(x, w, centers, rows):
    labels = _blocks.predict_block(x, centers)
    return _inertia_chunk(x, w, labels[:, None], centers, rows)


def _distinct_labels(step, n_clusters):
    return np.bincount(step[0], minlength=n_clusters) > 0


def _mapping(step, other, n_clusters):
    return _blocks.mapping_task(step[0], other[0], n_clusters)
