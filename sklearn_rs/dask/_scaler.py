"""Standard scaling of a row-chunked dask array, with the statistics of
``sklearn_rs.StandardScaler`` on the gathered data.

The single-machine fit of row-major data (more than one feature) runs two passes of running
column sums in row order (the sums, then the deviations from the mean), as NumPy does. Here
the same passes run chunk after chunk, each task on the worker that holds its chunk and
starting from the sums the previous chunk's task left (two vectors of ``n_features`` values
travel between tasks, never the data); the client then applies the same update step. The
sums are therefore the same additions in the same order: ``mean_``, ``var_``, ``scale_`` and
``n_samples_seen_`` are bitwise those of the single-machine fit, for any chunking. The
price is that the chunks of one pass run one after another, not in parallel.

One-feature data is the exception: NumPy (and the single-machine fit) sums one column
pairwise over all its rows, an order no chain of chunks reproduces; there the statistics
agree to floating rounding only.

``partial_fit`` folds every chunk in as one batch, as ``partial_fit`` called chunk by chunk
would (the chunks' passes in parallel, the updates in chunk order on the client).
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from sklearn_rs._scaler import StandardScaler as _LocalStandardScaler
from sklearn_rs._scaler import _per_feature
from sklearn_rs._threads import _core, effective_n_threads
from sklearn_rs.dask._blocks import block_futures, check_dask_array, contiguous


def _client():
    from sklearn_rs.dask._kmeans import _client as client

    return client()


# Tasks run on the workers.

def _first_task(x, w, start):
    x = contiguous(x)
    return _core.scaler_chain_first(
        x, False, None if w is None else contiguous(w, x.dtype), start, effective_n_threads()
    )


def _second_task(x, w, t, nansum, start):
    x = contiguous(x)
    return _core.scaler_chain_second(
        x, False, None if w is None else contiguous(w, x.dtype), t, nansum, start,
        effective_n_threads(),
    )


def _batch_task(x, w, with_std):
    """One chunk's two passes as the single-machine fit runs them on that chunk alone (its
    layout included: one feature is summed pairwise): ``(sum, count, deviations)``."""
    x = contiguous(x)
    w = None if w is None else contiguous(w, x.dtype)
    n_threads = effective_n_threads()
    data, columns = (x.T, True) if x.shape[1] == 1 else (x, False)
    total, count, any_nan = _core.scaler_chain_first(data, columns, w, None, n_threads)
    deviations = None
    if with_std:
        deviations = _core.scaler_chain_second(
            data, columns, w, total / count, any_nan, None, n_threads
        )
    return total, count, deviations


def _transform_task(x, local, inverse):
    x = contiguous(x)
    if inverse:
        return local.inverse_transform(x, copy=True)
    return local.transform(x, copy=True)


def _non_finite_error(X):
    return ValueError(
        f"Input X contains infinity or a value too large for {X.dtype!r}."
    )


class StandardScaler(_LocalStandardScaler):
    """``sklearn_rs.StandardScaler`` fitted on a row-chunked dask array (float32 or float64)
    on a dask.distributed cluster.

    ``fit`` gives ``mean_``, ``var_``, ``scale_`` and ``n_samples_seen_`` bitwise equal to
    ``sklearn_rs.StandardScaler`` fitted on ``X.compute()`` (with more than one feature; to
    floating rounding with one), for any chunking, with or without ``sample_weight``; NaN is
    ignored as scikit-learn does. ``partial_fit`` adds each chunk as one batch.
    ``transform`` / ``inverse_transform`` are lazy; ``to_local()`` returns the fitted
    ``sklearn_rs.StandardScaler``.
    """

    def _weights(self, sample_weight, X):
        import dask.array as da

        if sample_weight is None:
            return None
        n = X.shape[0]
        if not isinstance(sample_weight, da.Array):
            sample_weight = np.asarray(sample_weight, dtype=X.dtype)
            if sample_weight.ndim == 0:
                return da.full(n, sample_weight, dtype=X.dtype, chunks=(X.chunks[0],))
        if sample_weight.ndim != 1 or sample_weight.shape[0] != n:
            raise ValueError(
                f"sample_weight.shape == {sample_weight.shape}, expected ({n},)!"
            )
        if isinstance(sample_weight, np.ndarray):
            return da.from_array(sample_weight, chunks=(X.chunks[0],))
        return sample_weight.astype(X.dtype).rechunk({0: X.chunks[0]})

    def _check_input(self, X, reset):
        X = check_dask_array(X)
        n, d = X.shape
        if n < 1:
            raise ValueError(
                f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is "
                f"required by {type(self).__name__}."
            )
        if not reset and d != self.n_features_in_:
            raise ValueError(
                f"X has {d} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return X

    def _persisted(self, client, X, w):
        """Chunk futures of X (and of the weights), kept C-contiguous on the workers."""
        Xc = X.map_blocks(contiguous, dtype=X.dtype)
        if w is None:
            (Xc,) = client.persist([Xc])
            return block_futures(Xc), [None] * len(Xc.chunks[0])
        Xc, wc = client.persist([Xc, w])
        return block_futures(Xc), block_futures(wc)

    def _chain(self, client, task, xs, ws, *args):
        """Runs ``task`` chunk after chunk, each starting from the previous one's sums."""
        state = None
        for x, w in zip(xs, ws):
            state = client.submit(task, x, w, *args, state, pure=False)
        return state.result()

    def fit(self, X, y=None, sample_weight=None):
        """Compute the mean and standard deviation of the dask array X (chunked along rows
        only); ``sample_weight`` is None, a NumPy array or a dask array."""
        self._validate_params()
        self._reset()
        client = _client()
        X = self._check_input(X, reset=True)
        n, d = X.shape
        w = self._weights(sample_weight, X)
        self.n_features_in_ = d
        xs, ws = self._persisted(client, X, w)
        weighted = w is not None
        dtype = X.dtype if weighted else np.int64
        if not self.with_mean and not self.with_std:
            # Non-NaN counts, whatever the weights (scikit-learn's bookkeeping).
            _, counts, _ = self._chain(client, _first_task, xs, [None] * len(xs))
            self.mean_ = None
            self.var_ = None
            seen = np.zeros(d, dtype=dtype) + counts.astype(np.int64)
            self._finish(seen)
            return self
        total, count, any_nan = self._chain(client, _first_task, xs, ws)
        if not np.all(np.isfinite(total)):
            raise _non_finite_error(X)
        deviations = None
        if self.with_std:
            t = total / count
            deviations = self._chain(client, _second_task, xs, ws, t, any_nan)
        zeros = np.zeros(d)
        mean, var, seen = _core.scaler_fold(
            zeros, zeros if self.with_std else None, zeros, total, count, deviations
        )
        self.mean_, self.var_ = mean, var
        self._finish(seen)
        return self

    def partial_fit(self, X, y=None, sample_weight=None):
        """Adds every chunk of the dask array X as one batch, in row order: the statistics
        of ``partial_fit`` called on each chunk in turn (the chunks' passes in parallel)."""
        self._validate_params()
        client = _client()
        first_call = not hasattr(self, "n_samples_seen_")
        X = self._check_input(X, reset=first_call)
        if not self.with_mean and not self.with_std:
            raise NotImplementedError(
                "sklearn_rs.dask.StandardScaler.partial_fit needs with_mean or with_std; "
                "use fit."
            )
        n, d = X.shape
        w = self._weights(sample_weight, X)
        xs, ws = self._persisted(client, X, w)
        batches = client.gather(
            client.map(_batch_task, xs, ws, [self.with_std] * len(xs), pure=False)
        )
        # StandardScaler.partial_fit's bookkeeping, batch after batch: a scalar count is
        # spread over the features in the count's dtype (X's when weighted) before the update.
        dtype = X.dtype if w is not None else np.int64
        if first_call:
            self.n_features_in_ = d
            mean, var, seen = 0.0, (0.0 if self.with_std else None), np.zeros(d)
        else:
            mean, var, seen = self.mean_, self.var_, self.n_samples_seen_
        for total, count, deviations in batches:
            if not np.all(np.isfinite(total)):
                raise _non_finite_error(X)
            if np.size(seen) == 1:
                seen = np.repeat(seen, d).astype(dtype, copy=False)
            mean, var, seen = _core.scaler_fold(
                _per_feature(mean, d), None if var is None else _per_feature(var, d),
                _per_feature(seen, d), total, count, deviations,
            )
            if np.max(seen) == np.min(seen):
                seen = seen[0]
        self.mean_, self.var_ = mean, var
        self._finish(seen)
        return self

    def _finish(self, seen):
        """``n_samples_seen_`` and ``scale_`` as ``StandardScaler.partial_fit`` sets them."""
        d = self.n_features_in_
        if np.ndim(seen) == 1 and np.max(seen) == np.min(seen):
            seen = seen[0]
        self.n_samples_seen_ = seen
        if self.with_std:
            self.scale_ = _core.scaler_scale(
                np.ascontiguousarray(self.var_, dtype=np.float64),
                _per_feature(self.mean_, d),
                _per_feature(self.n_samples_seen_, d),
            )
        else:
            self.scale_ = None

    def _lazy(self, X, inverse):
        check_is_fitted(self)
        X = check_dask_array(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        local = self.to_local()
        return X.map_blocks(_transform_task, local, inverse, dtype=X.dtype)

    def transform(self, X, copy=None):
        """Standardize the dask array X lazily, chunk by chunk (``copy`` is ignored: dask
        arrays are never modified in place)."""
        return self._lazy(X, inverse=False)

    def inverse_transform(self, X, copy=None):
        """Scale the dask array X back lazily, chunk by chunk."""
        return self._lazy(X, inverse=True)

    def fit_transform(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def to_local(self):
        """The fitted ``sklearn_rs.StandardScaler`` (NumPy attributes), for pickling and
        serving."""
        check_is_fitted(self)
        local = _LocalStandardScaler(**self.get_params())
        for name in ("mean_", "var_", "scale_", "n_samples_seen_", "n_features_in_"):
            setattr(local, name, getattr(self, name))
        return local
