"""KMeans: sklearn_rs against scikit-learn and scikit-learn-intelex (when installed).

Shapes (n_samples, n_features, n_clusters) are the four of the KMeans issue, in float32 and float64.
Data: Gaussian blobs (one blob per cluster, unit noise, centres drawn with standard deviation 2,
so the clusters overlap and Lloyd needs many iterations), generated once per run in ``setup_cache``
from a fixed seed, with a fixed set of k initial centres drawn from the data. This module never
imports torch.
"""

import time

import numpy as np

# The mixins are used through the module: asv would collect them as benchmarks of this
# module if they were imported by name.
from . import common
from .common import (
    SEED,
    SKLEARN_PEERS,
    EstimatorBenchmark,
    case_size,
    data_key,
    save_array,
)

SHAPES = ["200000x50x32", "100000x64x256", "1000000x2x16", "1000000x8x16"]
DTYPES = ["float32", "float64"]

#: Lloyd iterations timed per fit by the per-iteration benchmark (tol=0, fixed initial centres).
LLOYD_ITERS = 10


def parse_shape(shape):
    n, d, k = (int(v) for v in shape.split("x"))
    return n, d, k


def data_shape(shape):
    """(n, d, k) of the data built for ``shape``: the shape itself, or a few thousand rows in
    smoke mode (enough for 20 minibatches of ``BATCH_SIZE`` rows)."""
    n, d, k = parse_shape(shape)
    return case_size((n, d, k), (min(n, 2000), min(d, 4), min(k, 8)))


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
    """Write every (shape, dtype) data set and its initial centres; return
    ``{"<shape>-<dtype>": {"X": path, "init": path}}``."""
    paths = {}
    for shape in shapes:
        X, init = make_data(*data_shape(shape))
        for dtype in dtypes:
            key = data_key(shape, dtype)
            paths[key] = {
                "X": save_array(f"kmeans-X-{key}", X.astype(dtype)),
                "init": save_array(f"kmeans-init-{key}", init.astype(dtype)),
            }
    return paths


class _KMeansBenchmark(EstimatorBenchmark):
    module, name = "cluster", "KMeans"
    params = [SHAPES, DTYPES, SKLEARN_PEERS]
    param_names = ["shape", "dtype", "impl"]
    number = 1
    timeout = 900

    def setup_cache(self):
        # Here, not in common.py: asv keys the cache by where this function is defined.
        return self.build_dataset()

    def build_dataset(self):
        return build_dataset()

    @property
    def k(self):
        return self.data["init"].shape[0]

    def make_estimator(self, cls, **overrides):
        """The default fit: ``KMeans(n_clusters=k, random_state=0)`` (k-means++, n_init='auto')."""
        return cls(**{"n_clusters": self.k, "random_state": 0, **overrides})

    def make_fixed_init(self, cls, max_iter):
        """Lloyd from the fixed initial centres: init=array, n_init=1, tol=0."""
        return cls(n_clusters=self.k, init=self.data["init"], n_init=1, max_iter=max_iter,
                   tol=0.0, algorithm="lloyd")


class KMeansFit(common.Estimator, _KMeansBenchmark):
    """End to end default fit; its peak memory (max_iter=10: later iterations reuse the same
    buffers, so the peak is that of the full fit at a fraction of the time) and inertia."""

    memory_params = {"max_iter": 10}
    memory_cases = [("200000x50x32", "float64")]
    warmup_time = 0.0  # every call takes a tenth of a second or more (common.EstimatorBenchmark)

    def track_inertia(self, *params):
        """Inertia of the default fit (lower is better); compared between implementations."""
        return float(self.make_estimator(self.cls).fit(self.X).inertia_)

    track_inertia.unit = "inertia"


class KMeansLloyd(_KMeansBenchmark):
    """Lloyd iterations from fixed initial centres (init=array, n_init=1, tol=0)."""

    def _fit(self, max_iter):
        est = self.make_fixed_init(self.cls, max_iter)
        t0 = time.perf_counter()
        est.fit(self.X)
        return time.perf_counter() - t0, est.n_iter_

    def track_lloyd_seconds_per_iter(self, *params):
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

    def time_lloyd_fit_fixed_init(self, *params):
        """Whole fit, LLOYD_ITERS iterations from the fixed initial centres (tol=0)."""
        self.make_fixed_init(self.cls, LLOYD_ITERS).fit(self.X)


class KMeansPredict(common.Predictor, common.Transformer, _KMeansBenchmark):
    """``predict(X)`` and ``transform(X)`` on the training data, of a model fitted with two
    Lloyd iterations from the fixed initial centres."""

    def make_model(self):
        return self.make_fixed_init(self.cls, max_iter=2).fit(self.X)


# --- KMeans paths beyond the default fit ------------------------------------------------------

#: The data set of the other paths: the first shape.
PATH_SHAPE = "200000x50x32"


class _KMeansPathBenchmark(_KMeansBenchmark):
    params = [DTYPES, SKLEARN_PEERS]
    param_names = ["dtype", "impl"]

    def setup_cache(self):
        return build_dataset(shapes=[PATH_SHAPE])

    def setup(self, paths, dtype, impl):
        super().setup({data_key(dtype): paths[data_key(PATH_SHAPE, dtype)]}, dtype, impl)


class KMeansPaths(_KMeansPathBenchmark):
    """Elkan from the fixed initial centres, and ``init="random", n_init=10``."""

    warmup_time = 0.0  # every call takes a tenth of a second or more (common.EstimatorBenchmark)

    def time_elkan_fit_fixed_init(self, *params):
        """LLOYD_ITERS Elkan iterations from the fixed initial centres (tol=0)."""
        est = self.make_fixed_init(self.cls, LLOYD_ITERS)
        est.set_params(algorithm="elkan").fit(self.X)

    def time_random_init_n_init_10(self, *params):
        """One fit with ``init="random", n_init=10`` (ten Lloyd runs to convergence)."""
        self.make_estimator(self.cls, init="random", n_init=10).fit(self.X)


def make_sparse_data(n=100_000, d=2000, k=case_size(32, 4), density=case_size(0.01, 0.0005),
                     seed=SEED):
    """CSR samples with ``density`` non-zeros per row around k sparse prototypes, and k initial
    centres drawn from the rows. (Smoke mode keeps the 100000 x 2000 shape, which ``setup``
    names, with one non-zero per row and 4 clusters.)"""
    import scipy.sparse as sp

    rng = np.random.default_rng([seed, n, d, k])
    nnz_per_row = int(d * density)
    prototypes = rng.integers(d, size=(k, nnz_per_row))
    labels = rng.integers(k, size=n)
    # Each row keeps most of its prototype's columns and swaps a few for random ones.
    cols = prototypes[labels]
    swap = rng.random(cols.shape) < 0.2
    cols[swap] = rng.integers(d, size=int(swap.sum()))
    values = rng.random(cols.shape) + 0.5
    X = sp.csr_matrix(
        (values.ravel(), (np.repeat(np.arange(n), nnz_per_row), cols.ravel())), shape=(n, d)
    )
    X.sum_duplicates()
    init = X[rng.choice(n, size=k, replace=False)].toarray()
    return X, init


class KMeansSparse(EstimatorBenchmark):
    """LLOYD_ITERS Lloyd iterations from fixed initial centres on CSR 100k x 2000 at 1%."""

    module, name = "cluster", "KMeans"
    params = [DTYPES, SKLEARN_PEERS]
    param_names = ["dtype", "impl"]
    number = 1
    timeout = 900
    warmup_time = 0.0  # every call takes a tenth of a second or more (common.EstimatorBenchmark)

    def setup_cache(self):
        import scipy.sparse as sp

        X, init = make_sparse_data()
        paths = {}
        for dtype in DTYPES:
            Xd = X.astype(dtype)
            paths[dtype] = {
                "data": save_array(f"kmeans-csr-data-{dtype}", Xd.data),
                "indices": save_array(f"kmeans-csr-indices-{dtype}", Xd.indices),
                "indptr": save_array(f"kmeans-csr-indptr-{dtype}", Xd.indptr),
                "init": save_array(f"kmeans-csr-init-{dtype}", init.astype(dtype)),
            }
        assert sp.issparse(X)
        return paths

    def setup(self, paths, dtype, impl):
        import scipy.sparse as sp

        self.cls = common.sklearn_class(impl, self.module, self.name)
        common.limit_threads()
        self.data = {k: common.load_array(p) for k, p in paths[dtype].items()}
        self.X = sp.csr_matrix(
            (self.data["data"], self.data["indices"], self.data["indptr"]), shape=(100_000, 2000)
        )

    def time_lloyd_fit_fixed_init(self, *params):
        """One fit of LLOYD_ITERS Lloyd iterations from the fixed initial centres (tol=0)."""
        init = self.data["init"]
        self.cls(n_clusters=init.shape[0], init=init, n_init=1, max_iter=LLOYD_ITERS, tol=0.0,
                 algorithm="lloyd").fit(self.X)


class KMeansColorQuantization(EstimatorBenchmark):
    """``predict`` of the 273k pixels of scikit-learn's colour-quantisation example (china.jpg,
    RGB in [0, 1]) with 64 colours fitted on 1000 pixels."""

    module, name = "cluster", "KMeans"
    params = [DTYPES, SKLEARN_PEERS]
    param_names = ["dtype", "impl"]

    def setup_cache(self):
        from sklearn.datasets import load_sample_image

        pixels = load_sample_image("china.jpg").reshape(-1, 3) / 255.0
        return {dtype: {"X": save_array(f"kmeans-pixels-{dtype}", pixels.astype(dtype))}
                for dtype in DTYPES}

    def setup(self, paths, dtype, impl):
        super().setup(paths, dtype, impl)
        sample = self.X[np.random.default_rng(SEED).choice(len(self.X), 1000, replace=False)]
        self.model = self.cls(n_clusters=64, random_state=0).fit(sample)

    def time_predict(self, *params):
        """One ``predict`` of every pixel with the same 64-colour model."""
        self.model.predict(self.X)


# --- MiniBatchKMeans --------------------------------------------------------------------------

#: The MiniBatchKMeans shape of the issue: make_blobs(1_000_000, 20, centers=32).
MINIBATCH_SHAPE = "1000000x20x32"
#: Rows per minibatch (fit) and per partial_fit call.
BATCH_SIZE = case_size(4096, 64)


class _MiniBatchBenchmark(EstimatorBenchmark):
    module, name = "cluster", "MiniBatchKMeans"
    params = [DTYPES, SKLEARN_PEERS]
    param_names = ["dtype", "impl"]
    number = 1
    timeout = 900
    warmup_time = 0.0  # every call takes a tenth of a second or more (common.EstimatorBenchmark)
    memory_cases = [("float64",)]

    def setup_cache(self):
        return build_dataset(shapes=[MINIBATCH_SHAPE])

    def setup(self, paths, dtype, impl):
        super().setup({data_key(dtype): paths[data_key(MINIBATCH_SHAPE, dtype)]}, dtype, impl)

    def make_estimator(self, cls, **overrides):
        """One pass over the data in minibatches from the first 32 rows (the issue's fit)."""
        return cls(**{"n_clusters": 32, "init": self.X[:32], "n_init": 1,
                      "batch_size": BATCH_SIZE, "max_iter": 1, "max_no_improvement": None,
                      "tol": 0.0, "random_state": 0, **overrides})


class MiniBatchKMeansFit(common.Estimator, _MiniBatchBenchmark):
    """``fit``: max_iter=1, i.e. n_samples // batch_size = 244 minibatch steps."""


class MiniBatchKMeansPartialFit(_MiniBatchBenchmark):
    """One ``partial_fit`` call on a 4096-row batch (the model initialised by a first call)."""

    number = 10
    repeat = (3, 10, 20.0)

    def setup(self, *args):
        super().setup(*args)
        self.batches = [self.X[i * BATCH_SIZE:(i + 1) * BATCH_SIZE] for i in range(20)]
        self.model = self.make_estimator(self.cls).partial_fit(self.batches[0])
        self.calls = 0

    def time_partial_fit(self, *params):
        """One ``partial_fit`` call on the next of 20 fixed batches. Unlike other timed
        methods this moves the model on, as a stream of calls does; a step's cost does not
        depend on the model's state."""
        self.calls += 1
        self.model.partial_fit(self.batches[self.calls % len(self.batches)])
