"""What the k-means estimators share (scikit-learn's ``_BaseKMeans``), computed in Rust.

:class:`KMeansMixin` overrides every numerical method that scikit-learn's ``_BaseKMeans``
gives its subclasses: the ``tol`` scaling and ``n_init`` resolution, initial centroids,
labels and inertia, ``predict``, ``transform`` and ``score``. An estimator of the family is
``class Ours(KMeansMixin, sklearn's class)`` and adds only its own ``fit``.
"""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.cluster._kmeans import _BaseKMeans
from sklearn.utils import check_array
from sklearn.utils.validation import (
    _assert_all_finite,
    _check_sample_weight,
    _is_arraylike_not_scalar,
    check_is_fitted,
    validate_data,
)

from sklearn_rs._base import RustEstimatorMixin
from sklearn_rs._threads import _core

def check_probabilities(sample_weight):
    # scikit-learn samples initial centers with numpy's choice(p=sample_weight / total), which
    # rejects negative weights with this message.
    if np.any(sample_weight < 0):
        raise ValueError("probabilities are not non-negative")


def check_batch_probabilities(sample_weight):
    """The errors numpy's ``choice(n, p=sample_weight / sample_weight.sum())`` raises, in its
    order: MiniBatchKMeans draws its minibatches that way."""
    total = np.sum(sample_weight)
    if total == 0:
        raise ValueError("probabilities contain NaN")
    check_probabilities(sample_weight)
    if not np.isfinite(total):
        raise ValueError("probabilities do not sum to 1")


def rust_init(samples, sample_weight, n_clusters, random, random_state, n_threads,
              n_local_trials=None):
    """k-means++ (``random=False``) or random sampling (``random=True``) in Rust, on the draws
    scikit-learn takes from ``random_state`` (which is left where scikit-learn leaves it).
    Returns ``(centers, indices)``."""
    if random:
        # The number of draws depends on the data (numpy's choice without replacement draws
        # again after duplicates): Rust runs numpy's algorithm on the generator's own state.
        name, key, pos, has_gauss, cached_gaussian = random_state.get_state()
        centers, indices, key, pos = _core.init_random(
            samples, sample_weight, n_clusters, key, pos
        )
        random_state.set_state((name, key, pos, has_gauss, cached_gaussian))
        return centers, indices
    if n_local_trials is None:
        # scikit-learn's default: what Arthur and Vassilvitskii tried.
        n_local_trials = 2 + int(np.log(n_clusters))
    # One uniform picks the first center, n_local_trials more each further one: the values
    # scikit-learn's choice and uniform calls take, in the same order.
    uniforms = random_state.random_sample(1 + (n_clusters - 1) * n_local_trials)
    return _core.init_kmeans_plusplus(
        samples, sample_weight, n_clusters, n_local_trials, uniforms, n_threads
    )


def print_events(events, algorithm):
    """scikit-learn's verbose output of a Lloyd or Elkan run, from the events Rust recorded."""
    end = "." if algorithm == "lloyd" else ""
    for kind, iteration, value, tol in events:
        if kind == "iteration":
            print(f"Iteration {iteration}, inertia {value}{end}")
        elif kind == "strict":
            print(f"Converged at iteration {iteration}: strict convergence.")
        else:
            print(
                f"Converged at iteration {iteration}: center shift {value} "
                f"within tolerance {tol}."
            )


class KMeansMixin(RustEstimatorMixin):
    """Rust-backed overrides of scikit-learn's ``_BaseKMeans`` methods."""

    def _check_params_vs_input(self, X, default_n_init=None):
        # scikit-learn's checks and messages; the tol scaling is computed in Rust without the
        # (n_samples, n_features) temporary that np.var makes.
        if X.shape[0] < self.n_clusters:
            raise ValueError(
                f"n_samples={X.shape[0]} should be >= n_clusters={self.n_clusters}."
            )
        self._tol = self._scaled_tol(X)
        if self.n_init != "auto":
            self._n_init = self.n_init
        elif isinstance(self.init, str) and self.init == "k-means++":
            self._n_init = 1
        elif isinstance(self.init, str) or callable(self.init):
            self._n_init = default_n_init
        else:  # array-like
            self._n_init = 1
        if _is_arraylike_not_scalar(self.init) and self._n_init != 1:
            warnings.warn(
                "Explicit initial center position passed: performing only"
                f" one init in {self.__class__.__name__} instead of "
                f"n_init={self._n_init}.",
                RuntimeWarning,
                stacklevel=2,
            )
            self._n_init = 1

    def _scaled_tol(self, X):
        """``tol`` times the mean variance of the features, as scikit-learn scales it."""
        if self.tol == 0:
            return 0
        variance = _core.mean_variance(
            self._samples(X), np.empty(0, dtype=X.dtype), self._rs_n_threads()
        )
        return variance * self.tol

    def _init_centroids(self, X, x_squared_norms, init, random_state, sample_weight,
                        init_size=None, n_centroids=None):
        # x_squared_norms is not needed: Rust computes the norms it uses.
        n_clusters = self.n_clusters if n_centroids is None else n_centroids
        if init_size is not None and init_size < X.shape[0]:
            # The subsample scikit-learn draws, from the same random_state calls.
            init_indices = random_state.randint(0, X.shape[0], init_size)
            X = X[init_indices]
            sample_weight = sample_weight[init_indices]
        if callable(init):
            centers = init(X, n_clusters, random_state=random_state)
            centers = check_array(centers, dtype=X.dtype, copy=False, order="C")
            self._validate_center_shape(X, centers, n_centroids=n_clusters)
        elif isinstance(init, str):
            check_probabilities(sample_weight)
            centers, _ = rust_init(
                self._samples(X), sample_weight, n_clusters, init == "random", random_state,
                self._rs_n_threads(),
            )
        else:
            centers = init
        if sp.issparse(centers):
            centers = centers.toarray()
        return centers

    def _check_test_data(self, X):
        # scikit-learn's validation of the data of predict, transform and score, less its
        # finiteness check (a pass of its own over X): the Rust pass that reads X checks it
        # (see _finite_checked).
        try:
            return validate_data(
                self,
                X,
                accept_sparse="csr",
                reset=False,
                dtype=[np.float64, np.float32],
                order="C",
                accept_large_sparse=False,
                ensure_all_finite=False,
            )
        except (ValueError, TypeError):
            # scikit-learn reports NaN or infinity before the other problems of X.
            _BaseKMeans._check_test_data(self, X)
            raise

    def _finite_checked(self, X, native_call):
        """``native_call(check_finite)``, which checks X for NaN and infinity unless
        scikit-learn's ``assume_finite`` is set; scikit-learn's error when it finds some."""
        check_finite = not get_config()["assume_finite"]
        try:
            return native_call(check_finite)
        except ValueError:
            self._assert_finite(X)
            raise

    def _assert_finite(self, X):
        """scikit-learn's check of validated X for NaN and infinity, with its message."""
        _assert_all_finite(X.data if sp.issparse(X) else X, input_name="X",
                           estimator_name=type(self).__name__)

    def _labels_inertia(self, X, sample_weight, with_inertia=True, centers=None,
                        check_finite=False):
        """Closest center of each sample and (if ``with_inertia``) the weighted inertia, against
        the fitted centers or the given ones; with ``check_finite``, X is checked for NaN and
        infinity in the same pass."""
        centers = self.cluster_centers_ if centers is None else centers
        centers = np.ascontiguousarray(centers, dtype=X.dtype)
        samples, n_threads = self._samples(X), self._rs_n_threads()

        def run(check):
            return _core.labels_inertia(
                samples, sample_weight, centers.ravel(), with_inertia, n_threads, check
            )

        return self._finite_checked(X, run) if check_finite else run(False)

    def predict(self, X):
        check_is_fitted(self)
        X = self._check_test_data(X)
        labels, _ = self._labels_inertia(
            X, np.ones(X.shape[0], dtype=X.dtype), with_inertia=False, check_finite=True
        )
        return labels

    def _transform(self, X):
        # fit_transform passes X as the user gave it (scikit-learn's own _transform accepts
        # anything euclidean_distances does); this is a no-op for already validated input.
        # Finiteness is checked by the distance pass.
        X = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32], order="C",
                        accept_large_sparse=False, ensure_all_finite=False)
        dtype = np.result_type(X.dtype, self.cluster_centers_.dtype)
        centers = np.ascontiguousarray(self.cluster_centers_, dtype=dtype)
        samples, n_threads = self._samples(X.astype(dtype, copy=False)), self._rs_n_threads()
        # scikit-learn's message names X's own dtype.
        return self._finite_checked(
            X, lambda check: _core.transform(samples, centers.ravel(), n_threads, check)
        )

    def score(self, X, y=None, sample_weight=None):
        check_is_fitted(self)
        X = self._check_test_data(X)
        try:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        except (ValueError, TypeError):
            # scikit-learn checks X for NaN and infinity first.
            self._assert_finite(X)
            raise
        _, inertia = self._labels_inertia(X, sample_weight, check_finite=True)
        return -inertia
