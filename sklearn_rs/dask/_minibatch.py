"""MiniBatchKMeans whose ``partial_fit`` streams the chunks of a dask array."""

import numpy as np

from sklearn_rs._minibatch import MiniBatchKMeans as _LocalMiniBatchKMeans
from sklearn_rs.dask._blocks import check_dask_array
from sklearn_rs.dask._wrappers import _call


class MiniBatchKMeans(_LocalMiniBatchKMeans):
    """``sklearn_rs.MiniBatchKMeans`` whose ``partial_fit`` takes a row-chunked dask array and
    runs one step per chunk, in row order: the chunks come to this process one at a time (the
    next one computed while the current one is used), so the model equals ``partial_fit`` called
    on each chunk in turn. ``predict`` and ``transform`` of a dask array are lazy (one task per
    chunk). ``fit`` takes in-memory data only (its minibatches are drawn from all samples)."""

    def partial_fit(self, X, y=None, sample_weight=None):
        import dask.array as da

        if not isinstance(X, da.Array):
            return super().partial_fit(X, y, sample_weight=sample_weight)
        X = check_dask_array(X)
        if sample_weight is not None:
            sample_weight = da.asarray(sample_weight).rechunk({0: X.chunks[0]})
        chunks = X.to_delayed().ravel()
        weights = [None] * len(chunks) if sample_weight is None else (
            sample_weight.to_delayed().ravel()
        )
        from distributed import default_client

        client = default_client()
        pending = client.compute([chunks[0], weights[0]]) if len(chunks) else None
        for i in range(len(chunks)):
            x, w = client.gather(pending)
            if i + 1 < len(chunks):
                pending = client.compute([chunks[i + 1], weights[i + 1]])
            w = None if w is None else np.require(w, requirements=["A"])
            super().partial_fit(np.require(x, requirements=["A"]), sample_weight=w)
        return self

    def fit(self, X, y=None, sample_weight=None):
        import dask.array as da

        if isinstance(X, da.Array):
            raise NotImplementedError(
                "sklearn_rs.dask.MiniBatchKMeans.fit takes in-memory data (its minibatches are "
                "drawn from all samples); stream a dask array with partial_fit."
            )
        return super().fit(X, y, sample_weight=sample_weight)

    def _lazy(self, method, X, columns):
        import dask.array as da

        if not isinstance(X, da.Array):
            return getattr(super(), method)(X)
        X = check_dask_array(X)
        local = _LocalMiniBatchKMeans(**self.get_params())
        local.__dict__.update({k: v for k, v in self.__dict__.items() if k.endswith("_")})
        if columns is None:
            return X.map_blocks(_call, local, method, dtype=np.int32, drop_axis=1)
        return X.map_blocks(_call, local, method, dtype=X.dtype,
                            chunks=(X.chunks[0], (columns,)))

    def predict(self, X):
        return self._lazy("predict", X, None)

    def transform(self, X):
        return self._lazy("transform", X, self.n_clusters)
