"""LinearRegression and Ridge: sklearn_rs against scikit-learn and scikit-learn-intelex.

Cases of the linear-models issue: ``make_regression(1_000_000, 100, noise=1.0,
random_state=0)`` (float64), generated once per run in ``setup_cache``:
- ``LinearRegression().fit(X, y)`` (the minimum-norm least-squares solution);
- ``Ridge(alpha=1.0).fit(X, y)`` (the ``auto`` solver: cholesky on dense data);
- ``predict`` of each fitted model on X.
"""

from sklearn.datasets import make_regression

# The mixins are used through the module: asv would collect them as benchmarks of this
# module if they were imported by name.
from . import common
from .common import SKLEARN_PEERS, EstimatorBenchmark, case_size, data_key, save_array

#: ``(shape, dtype)`` of every case.
CASES = [("1000000x100", "float64")]


def build_dataset():
    paths = {}
    for shape, dtype in CASES:
        n, d = case_size(tuple(int(v) for v in shape.split("x")), (500, 10))
        X, y = make_regression(n_samples=n, n_features=d, noise=1.0, random_state=0)
        key = data_key(shape, dtype)
        paths[key] = {
            "X": save_array(f"linear-X-{key}", X.astype(dtype)),
            "y": save_array(f"linear-y-{key}", y.astype(dtype)),
        }
    return paths


class _LinearBenchmark(EstimatorBenchmark):
    module = "linear_model"
    param_names = ["shape", "dtype", "impl"]
    params = [[shape for shape, _ in CASES], ["float64"], SKLEARN_PEERS]
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


class LinearRegressionFit(common.Estimator, common.Predictor, _LinearBenchmark):
    """``LinearRegression().fit(X, y)``, its peak memory, and ``predict`` of the fitted
    model."""

    name = "LinearRegression"


class RidgeFit(common.Estimator, common.Predictor, _LinearBenchmark):
    """``Ridge(alpha=1.0).fit(X, y)``, its peak memory, and ``predict`` of the fitted model."""

    name = "Ridge"
    estimator_params = dict(alpha=1.0)
