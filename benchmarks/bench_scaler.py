"""StandardScaler: sklearn_rs against scikit-learn (scikit-learn-intelex does not patch
StandardScaler, so its peer is skipped).

Cases of the StandardScaler/PCA issue: ``StandardScaler().fit_transform(X)`` for X 1M x 50
(standard normal x 3 + 1) in float64 and float32, and ``partial_fit`` over 10 batches of
100k x 50 float64. Data generated once per run in ``setup_cache`` from a fixed seed.
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

SHAPES = ["1000000x50"]
DTYPES = ["float32", "float64"]
#: Batches of the partial_fit case.
N_BATCHES = 10


def parse_shape(shape):
    n, d = (int(v) for v in shape.split("x"))
    return n, d


def make_data(n, d, seed=SEED):
    """Standard normal values scaled by 3 and shifted by 1 (float64)."""
    rng = np.random.default_rng([seed, n, d])
    X = rng.standard_normal(size=(n, d))
    X *= 3.0
    X += 1.0
    return X


def build_dataset(shapes=SHAPES, dtypes=DTYPES):
    paths = {}
    for shape in shapes:
        X = make_data(*case_size(parse_shape(shape), (500, 5)))
        for dtype in dtypes:
            key = data_key(shape, dtype)
            paths[key] = {"X": save_array(f"scaler-X-{key}", X.astype(dtype))}
    return paths


class _ScalerBenchmark(EstimatorBenchmark):
    module, name = "preprocessing", "StandardScaler"
    params = [SHAPES, DTYPES, SKLEARN_PEERS]
    param_names = ["shape", "dtype", "impl"]
    number = 1
    memory_cases = [("1000000x50", "float64")]
    timeout = 600

    def setup_cache(self):
        # Here, not in common.py: asv keys the cache by where this function is defined.
        return self.build_dataset()

    def build_dataset(self):
        return build_dataset()

    def make_estimator(self, cls, **overrides):
        return cls(**overrides)


class StandardScalerFit(common.Estimator, common.Transformer, _ScalerBenchmark):
    """``fit``, ``transform`` (a new array) and peak memory of the fit."""


class StandardScalerFitTransform(_ScalerBenchmark):
    """``StandardScaler().fit_transform(X)`` and its peak memory."""

    def time_fit_transform(self, *params):
        self.make_estimator(self.cls).fit_transform(self.X)

    def peakmem_fit_transform(self, *params):
        self.make_estimator(self.cls).fit_transform(self.X)


class StandardScalerPartialFit(_ScalerBenchmark):
    """``partial_fit`` over ``N_BATCHES`` consecutive batches of X's rows (views, no copies)."""

    params = [SHAPES, ["float64"], SKLEARN_PEERS]

    def setup(self, paths, *params):
        super().setup(paths, *params)
        self.batches = np.array_split(self.X, N_BATCHES)

    def time_partial_fit(self, *params):
        est = self.make_estimator(self.cls)
        for batch in self.batches:
            est.partial_fit(batch)
