"""KMeans: sklearn_rs against scikit-learn (and scikit-learn-intelex when it is installed).

Shapes (n_samples, n_features, n_clusters) are the four of the KMeans issue, in float32 and float64.
Data: Gaussian blobs (one blob per cluster, unit noise, centres drawn with standard deviation 2,
so the clusters overlap and Lloyd needs many iterations), generated once per run in ``setup_cache``
from a fixed seed. This module never imports torch.
"""

import time

import numpy as np

from .common import SEED, limit_threads, load_array, save_array

SHAPES = ["200000x50x32", "100000x64x256", "1000000x2x16", "1000000x8x16"]
DTYPES = ["float32", "float64"]
IMPLS = ["sklearn_rs", "sklearn", "sklearnex"]

#: Lloyd iterations timed per fit by the per-iteration benchmark (tol=0, fixed initial centres).
LLOYD_ITERS = 10


def parse_shape(shape):
    n, d, k = (int(v) for v in shape.split("x"))
    return n, d, k


def make_data(n, d, k, seed=SEED):
    """Deterministic blobs (float64) and a fixed set of k initial centres drawn from the data."""
    rng = np.random.default_rng([seed, n, d, k])
    centers = rng.normal(scale=2.0, size=(k, d))
    labels = rng.integers(k, size=n)
    X = centers[labels]
    X += rng.standard_normal(size=(n, d))
    init = X[rng.choice(n, size=k, replace=False)].copy()
    return X, init


def build_dataset(shapes=SHAPES, dtypes=DTYPES):
    """Write every (shape, dtype) data set and its initial centres; return {key: (X_path, init_path)}."""
    paths = {}
    for shape in shapes:
        X, init = make_data(*parse_shape(shape))
        for dtype in dtypes:
            key = f"{shape}-{dtype}"
            paths[key] = (
                save_array(f"kmeans-X-{key}", X.astype(dtype)),
                save_array(f"kmeans-init-{key}", init.astype(dtype)),
            )
    return paths


def kmeans_class(impl):
    """The KMeans class of an implementation; NotImplementedError (asv: skipped) if unavailable."""
    if impl == "sklearn_rs":
        from sklearn_rs import KMeans
    elif impl == "sklearn":
        from sklearn.cluster import KMeans
    elif impl == "sklearnex":
        try:
            from sklearnex.cluster import KMeans
        except ImportError as exc:
            raise NotImplementedError("scikit-learn-intelex is not installed") from exc
    else:
        raise ValueError(impl)
    return KMeans


class _KMeansBase:
    params = [SHAPES, DTYPES, IMPLS]
    param_names = ["shape", "dtype", "impl"]
    # Large shapes take seconds per fit: one call per sample, 1 to 3 samples (at most ~20 s), no
    # warm-up; the first call also pays for faulting in the fit's buffers, as a user's call would.
    number = 1
    repeat = (1, 3, 20.0)
    rounds = 1
    warmup_time = 0.0
    timeout = 900

    def setup_cache(self):
        return build_dataset()

    def setup(self, paths, shape, dtype, impl):
        self.KMeans = kmeans_class(impl)
        limit_threads()
        X_path, init_path = paths[f"{shape}-{dtype}"]
        self.X = load_array(X_path)
        self.init = load_array(init_path)
        self.k = self.init.shape[0]


class KMeansFit(_KMeansBase):
    """End to end ``KMeans(n_clusters=k, random_state=0).fit(X)`` (k-means++, n_init='auto')."""

    def time_fit_default(self, paths, shape, dtype, impl):
        self.KMeans(n_clusters=self.k, random_state=0).fit(self.X)

    def peakmem_fit(self, paths, shape, dtype, impl):
        # Default parameters, but max_iter=10: later iterations reuse the same buffers, so the peak
        # is that of the full fit at a fraction of the time.
        self.KMeans(n_clusters=self.k, random_state=0, max_iter=10).fit(self.X)

    def track_inertia(self, paths, shape, dtype, impl):
        """Inertia of the default fit (lower is better); compared between implementations."""
        return float(self.KMeans(n_clusters=self.k, random_state=0).fit(self.X).inertia_)

    track_inertia.unit = "inertia"


class KMeansLloyd(_KMeansBase):
    """Lloyd iterations from fixed initial centres (init=array, n_init=1, tol=0)."""

    def _fit(self, max_iter):
        est = self.KMeans(
            n_clusters=self.k, init=self.init, n_init=1, max_iter=max_iter, tol=0.0,
            algorithm="lloyd",
        )
        t0 = time.perf_counter()
        est.fit(self.X)
        return time.perf_counter() - t0, est.n_iter_

    def track_lloyd_seconds_per_iter(self, paths, shape, dtype, impl):
        """Seconds per Lloyd iteration: (t(max_iter=N) - t(max_iter=1)) / (n_iter_(N) - 1).

        The difference removes the per-fit cost (validation, copies, final labelling, inertia),
        which is timed by the other benchmarks. Best of three pairs of fits.
        """
        self._fit(1)  # warm-up: page in buffers, load the code paths
        best = float("inf")
        for _ in range(3):
            t1, _ = self._fit(1)
            tn, n_iter = self._fit(LLOYD_ITERS)
            if n_iter <= 1:  # converged immediately: fall back to the whole fit
                best = min(best, tn)
            else:
                best = min(best, max(tn - t1, 0.0) / (n_iter - 1))
        return best

    track_lloyd_seconds_per_iter.unit = "seconds"

    def time_lloyd_fit_fixed_init(self, paths, shape, dtype, impl):
        """Whole fit, LLOYD_ITERS iterations from the fixed initial centres (tol=0)."""
        self.KMeans(
            n_clusters=self.k, init=self.init, n_init=1, max_iter=LLOYD_ITERS, tol=0.0,
            algorithm="lloyd",
        ).fit(self.X)


class KMeansPredict(_KMeansBase):
    """``predict(X)`` on the training data of a model fitted from the fixed initial centres."""

    def setup(self, paths, shape, dtype, impl):
        super().setup(paths, shape, dtype, impl)
        self.model = self.KMeans(
            n_clusters=self.k, init=self.init, n_init=1, max_iter=2, tol=0.0
        ).fit(self.X)

    def time_predict(self, paths, shape, dtype, impl):
        self.model.predict(self.X)
