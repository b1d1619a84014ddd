"""PCA of a row-chunked dask array with ``svd_solver="covariance_eigh"``, with the fit of
``sklearn_rs.PCA`` on the gathered data.

The single-machine solver takes the mean and the centred scatter matrix of the rows in one
pass: the rows are cut into the blocks of a fixed partition (``kernels::blocks``), each
block's moments are computed on its own and the blocks' moments are merged in block order
(Chan et al.'s pairwise update). Here the chunks are aligned to that partition's blocks
(``_blocks.aligned``), each worker computes the moments of the blocks of its chunk, and the
client merges them in the same order and runs the same eigendecomposition and
post-processing (``kernels::pca::fit_from_moments``): the fitted attributes are bitwise those
of the single-machine fit, for any chunking. One pass over the data; ``(n_features,
n_features)`` values per block travel to the client.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from sklearn_rs._pca import PCA as _LocalPCA
from sklearn_rs._threads import _core, effective_n_threads
from sklearn_rs.dask._blocks import aligned, check_dask_array, contiguous

_SOLVERS = ("auto", "covariance_eigh")


def _moments_task(x, rows):
    counts, weights, means, scatters = _core.pca_block_moments(
        contiguous(x), rows, effective_n_threads()
    )
    return counts, weights, means, scatters


def _project_task(x, local, inverse):
    x = contiguous(x)
    return local.inverse_transform(x) if inverse else local.transform(x)


class PCA(_LocalPCA):
    """``sklearn_rs.PCA`` fitted on a row-chunked dask array (float32 or float64) on a
    dask.distributed cluster, with ``svd_solver="covariance_eigh"`` (``"auto"`` is accepted
    where scikit-learn would choose it: at most 1000 features and at least ten times as many
    samples as features).

    ``components_``, ``explained_variance_``, ``explained_variance_ratio_``,
    ``singular_values_``, ``mean_``, ``n_components_``, ``noise_variance_`` and
    ``n_samples_`` are bitwise those of ``sklearn_rs.PCA(svd_solver="covariance_eigh")``
    fitted on ``X.compute()``, for any chunking. ``transform`` / ``inverse_transform`` are
    lazy; ``to_local()`` returns the fitted ``sklearn_rs.PCA``.
    """

    def _solver_for(self, n, d):
        if self.svd_solver == "covariance_eigh":
            return "covariance_eigh"
        if self.svd_solver == "auto" and d <= 1_000 and n >= 10 * d:
            return "covariance_eigh"
        raise NotImplementedError(
            "sklearn_rs.dask.PCA runs svd_solver='covariance_eigh' (one pass over the "
            f"chunks), which 'auto' picks for n_features <= 1000 and n_samples >= 10 * "
            f"n_features; got svd_solver={self.svd_solver!r} for X of shape {(n, d)}."
        )

    def fit(self, X, y=None):
        """Fit the model with the dask array X (chunked along rows only)."""
        self._validate_params()
        import dask

        from sklearn_rs.dask._kmeans import _client

        client = _client()
        X = check_dask_array(X)
        n, d = X.shape
        self._fit_svd_solver = self._solver_for(n, d)
        n_components = min(n, d) if self.n_components is None else self.n_components
        self._check_full_n_components(X, n_components)
        if n_components == "mle":
            spec = ("mle", 0.0)
        elif 0 < n_components < 1.0:
            spec = ("fraction", float(n_components))
        else:
            spec = ("count", float(int(n_components)))

        rows = _core.pca_rows_per_block(n, d)
        Xa = aligned(X, rows)
        # One pass: a task per chunk, nothing persisted.
        tasks = [dask.delayed(_moments_task)(block, rows) for block in Xa.to_delayed().ravel()]
        parts = client.gather(client.compute(tasks))
        counts, weights, means, scatters = [], [], [], []
        for c, w, m, s in parts:
            counts.extend(c)
            weights.append(w)
            means.append(m)
            scatters.append(s)
        try:
            fit = _core.pca_fit_moments(
                counts, np.concatenate(weights), np.concatenate(means),
                np.concatenate(scatters), spec, bool(self.whiten),
            )
        except ValueError as e:
            if not np.all(np.isfinite(np.concatenate(means))):
                raise self._non_finite_error(X) from None
            raise e
        self.n_features_in_ = d
        self._set_fitted(fit, X.dtype, n)
        return self

    @staticmethod
    def _non_finite_error(X):
        import dask.array as da

        if bool(da.isnan(X).any().compute()):
            return ValueError("Input X contains NaN.")
        return ValueError(
            f"Input X contains infinity or a value too large for {X.dtype!r}."
        )

    def _lazy(self, X, inverse):
        check_is_fitted(self)
        X = check_dask_array(X)
        local = self.to_local()
        width = self.n_components_ if inverse else self.n_features_in_
        if X.shape[1] != width:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{width} features as input."
            )
        out = self.n_features_in_ if inverse else self.n_components_
        dtype = self.components_.dtype if inverse else X.dtype
        return X.map_blocks(
            _project_task, local, inverse, dtype=dtype, chunks=(X.chunks[0], (out,))
        )

    def transform(self, X):
        """Project the dask array X lazily, chunk by chunk."""
        return self._lazy(X, inverse=False)

    def inverse_transform(self, X):
        """Map the projected dask array X back lazily, chunk by chunk."""
        return self._lazy(X, inverse=True)

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)

    def to_local(self):
        """The fitted ``sklearn_rs.PCA`` (NumPy attributes), for pickling and serving."""
        check_is_fitted(self)
        local = _LocalPCA(**self.get_params())
        for name in (
            "n_features_in_", "mean_", "components_", "n_components_", "explained_variance_",
            "explained_variance_ratio_", "singular_values_", "noise_variance_", "n_samples_",
            "_fit_svd_solver",
        ):
            setattr(local, name, getattr(self, name))
        return local
