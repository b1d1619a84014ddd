"""LogisticRegression: sklearn_rs against scikit-learn and scikit-learn-intelex.

Cases of the linear-models issue, ``LogisticRegression(max_iter=1000).fit`` on
``make_classification(random_state=0)`` float64 data (generated once per run in
``setup_cache``):
- 200k x 50, two classes (scikit-learn's defaults: ``n_informative=2``);
- 100k x 100, ten classes (``n_informative=10``: ten classes with two clusters each need
  ``2**n_informative >= 20``).
``predict`` of the fitted models is timed as well.
"""

from sklearn.datasets import make_classification

# The mixins are used through the module: asv would collect them as benchmarks of this
# module if they were imported by name.
from . import common
from .common import SKLEARN_PEERS, EstimatorBenchmark, case_size, data_key, save_array

#: ``(shape, n_classes) -> make_classification`` keyword arguments.
CASES = {
    ("200000x50", 2): dict(n_informative=2),
    ("100000x100", 10): dict(n_informative=10),
}


def build_dataset():
    paths = {}
    for (shape, n_classes), extra in CASES.items():
        # Smoke mode: 20 features leave room for the ten-class case's 10 informative ones.
        n, d = case_size(tuple(int(v) for v in shape.split("x")), (500, 20))
        X, y = make_classification(
            n_samples=n, n_features=d, n_classes=n_classes, random_state=0, **extra
        )
        key = data_key(shape, n_classes)
        paths[key] = {
            "X": save_array(f"logistic-X-{key}", X),
            "y": save_array(f"logistic-y-{key}", y),
        }
    return paths


class _LogisticBenchmark(EstimatorBenchmark):
    module, name = "linear_model", "LogisticRegression"
    param_names = ["shape", "n_classes", "impl"]
    number = 1
    timeout = 900

    def setup_cache(self):
        # Here, not in common.py: asv keys the cache by where this function is defined.
        return self.build_dataset()

    def build_dataset(self):
        return build_dataset()

    def make_estimator(self, cls, **overrides):
        return cls(**{"max_iter": 1000, **overrides})


class LogisticBinaryFit(common.Estimator, common.Predictor, _LogisticBenchmark):
    """``LogisticRegression(max_iter=1000).fit(X, y)``, 200k x 50, two classes; ``predict``."""

    params = [["200000x50"], [2], SKLEARN_PEERS]


class LogisticMultinomialFit(common.Estimator, common.Predictor, _LogisticBenchmark):
    """``LogisticRegression(max_iter=1000).fit(X, y)``, 100k x 100, ten classes; ``predict``."""

    params = [["100000x100"], [10], SKLEARN_PEERS]
