"""PCA: sklearn_rs against scikit-learn and scikit-learn-intelex.

Cases of the StandardScaler/PCA issue (data generated once per run in ``setup_cache`` from a
fixed seed):
- ``PCA(10).fit_transform(X)``, X 200k x 100 float64 with correlated features (the ``auto``
  solver picks ``covariance_eigh``);
- ``PCA(50, svd_solver="randomized", random_state=0).fit(X)``, X 50k x 1000 float64;
- ``PCA(0.95, svd_solver="full").fit(X)``, X 20k x 300 float32 with correlated features.
"""

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


def correlated(n, d, dtype, seed=SEED):
    """Standard normal samples mixed by a random matrix with geometrically decaying rows: a
    spectrum like real data's, where a few directions carry most of the variance."""
    rng = np.random.default_rng([seed, n, d])
    mixing = rng.standard_normal((d, d)) * (0.9 ** np.arange(d))[:, None]
    return (rng.standard_normal((n, d)) @ mixing).astype(dtype)


def gaussian(n, d, dtype, seed=SEED):
    return np.random.default_rng([seed, n, d]).standard_normal((n, d)).astype(dtype)


#: Every case's data: ``(shape, dtype) -> make_data``. One dataset for all classes of this
#: module (asv caches ``setup_cache`` by where it is defined, which the classes share).
CASES = {
    ("200000x100", "float64"): correlated,
    ("50000x1000", "float64"): gaussian,
    ("20000x300", "float32"): correlated,
}


#: The smoke mode's data of each case, on the same solver path: n >= 10 d for covariance_eigh,
#: at least the 50 randomized components, more than one component for 95% of the variance.
TINY_SHAPES = {"200000x100": (1000, 20), "50000x1000": (200, 60), "20000x300": (200, 30)}


def build_dataset():
    paths = {}
    for (shape, dtype), make_data in CASES.items():
        n, d = case_size(tuple(int(v) for v in shape.split("x")), TINY_SHAPES[shape])
        key = data_key(shape, dtype)
        paths[key] = {"X": save_array(f"pca-X-{key}", make_data(n, d, dtype))}
    return paths


class _PCABenchmark(EstimatorBenchmark):
    module, name = "decomposition", "PCA"
    param_names = ["shape", "dtype", "impl"]
    number = 1
    timeout = 900
    #: The estimator's parameters of the case.
    estimator_params = {}

    def setup_cache(self):
        # Here, not in common.py: asv keys the cache by where this function is defined.
        return self.build_dataset()

    def build_dataset(self):
        return build_dataset()

    def make_estimator(self, cls, **overrides):
        return cls(**{**self.estimator_params, **overrides})


class PCACovarianceFitTransform(common.Transformer, _PCABenchmark):
    """``PCA(10).fit_transform(X)`` on tall data (``covariance_eigh``), its peak memory, and
    ``transform`` of a fitted model."""

    params = [["200000x100"], ["float64"], SKLEARN_PEERS]
    estimator_params = dict(n_components=10)

    def time_fit_transform(self, *params):
        self.make_estimator(self.cls).fit_transform(self.X)

    def peakmem_fit_transform(self, *params):
        self.make_estimator(self.cls).fit_transform(self.X)


class PCARandomizedFit(_PCABenchmark):
    """``PCA(50, svd_solver="randomized", random_state=0).fit(X)`` and its peak memory."""

    params = [["50000x1000"], ["float64"], SKLEARN_PEERS]
    estimator_params = dict(n_components=50, svd_solver="randomized", random_state=0)
    warmup_time = 0.0  # every call takes a tenth of a second or more (common.EstimatorBenchmark)

    def time_fit(self, *params):
        self.make_estimator(self.cls).fit(self.X)

    def peakmem_fit(self, *params):
        self.make_estimator(self.cls).fit(self.X)


class PCAFullFit(_PCABenchmark):
    """``PCA(0.95, svd_solver="full").fit(X)`` on float32 data and its peak memory."""

    params = [["20000x300"], ["float32"], SKLEARN_PEERS]
    estimator_params = dict(n_components=0.95, svd_solver="full")

    def time_fit(self, *params):
        self.make_estimator(self.cls).fit(self.X)

    def peakmem_fit(self, *params):
        self.make_estimator(self.cls).fit(self.X)
