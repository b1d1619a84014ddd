"""Predictions of any fitted estimator over a dask array, one task per chunk."""

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone

from sklearn_rs.dask._blocks import check_dask_array


def _call(x, estimator, method):
    # A chunk received from another worker can sit unaligned in the message buffer, which
    # native code (sklearn_rs's included) cannot read in place.
    return getattr(estimator, method)(np.require(x, requirements=["A"]))


class ParallelPostFit(MetaEstimatorMixin, BaseEstimator):
    """Fits ``estimator`` on in-memory data as usual; ``predict``, ``predict_proba``,
    ``predict_log_proba``, ``decision_function``, ``transform`` and ``score_samples`` of a
    row-chunked dask array run the fitted estimator (shipped with the graph) on each chunk
    where it lives, lazily. NumPy input is passed to the estimator unchanged."""

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y=None, **fit_params):
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        return self

    def _lazy(self, method, X):
        import dask.array as da

        if not isinstance(X, da.Array):
            return getattr(self.estimator_, method)(X)
        X = check_dask_array(X)
        # The output's shape and dtype, from one row.
        sample = _call(X[:1].compute(), self.estimator_, method)
        fitted = self.estimator_
        if sample.ndim == 1:
            return X.map_blocks(_call, fitted, method, dtype=sample.dtype, drop_axis=1)
        return X.map_blocks(_call, fitted, method, dtype=sample.dtype,
                            chunks=(X.chunks[0], (sample.shape[1],)))

    def predict(self, X):
        return self._lazy("predict", X)

    def predict_proba(self, X):
        return self._lazy("predict_proba", X)

    def predict_log_proba(self, X):
        return self._lazy("predict_log_proba", X)

    def decision_function(self, X):
        return self._lazy("decision_function", X)

    def transform(self, X):
        return self._lazy("transform", X)

    def score_samples(self, X):
        return self._lazy("score_samples", X)
