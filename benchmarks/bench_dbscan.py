"""DBSCAN: sklearn_rs against scikit-learn and scikit-learn-intelex.

Cases of the DBSCAN issue, ``make_blobs(random_state=0)`` data:

* ``100000x3``: 20 centers, standardised, ``eps=0.05, min_samples=10``;
* ``500000x2``: 30 centers, standardised, ``eps=0.02, min_samples=20`` (scikit-learn-intelex
  runs brute force over all pairs here: minutes, so it is skipped);
* ``20000x32``: 10 centers, ``cluster_std=0.5``, not standardised, ``eps=3.0, min_samples=5``.

``time_fit`` and ``peakmem_fit`` time ``DBSCAN(eps, min_samples).fit(X)`` with the default
``n_jobs`` (scikit-learn's search then runs on one thread, ours on the process's threads).
"""

from sklearn.datasets import make_blobs
from sklearn.preprocessing import StandardScaler

from . import common
from .common import SKLEARN_PEERS, EstimatorBenchmark, case_size, data_key, save_array

#: case -> (n_samples, n_features, centers, cluster_std, standardised, eps, min_samples)
CASES = {
    "100000x3": (100_000, 3, 20, 1.0, True, 0.05, 10),
    "500000x2": (500_000, 2, 30, 1.0, True, 0.02, 20),
    "20000x32": (20_000, 32, 10, 0.5, False, 3.0, 5),
}
#: Cases a peer cannot run in a benchmark's time.
TOO_SLOW = {("500000x2", "sklearnex")}


def make_data(case):
    n, d, centers, std, standardised, _, _ = CASES[case]
    n = case_size(n, 500)
    X, _ = make_blobs(n_samples=n, n_features=d, centers=centers, cluster_std=std,
                      random_state=0)
    return StandardScaler().fit_transform(X) if standardised else X


def build_dataset(cases=tuple(CASES)):
    return {data_key(case): {"X": save_array(f"dbscan-X-{case}", make_data(case))}
            for case in cases}


class DBSCANFit(common.Estimator, EstimatorBenchmark):
    """``DBSCAN(eps, min_samples).fit(X)``: time and peak memory."""

    module, name = "cluster", "DBSCAN"
    params = [list(CASES), SKLEARN_PEERS]
    param_names = ["case", "impl"]
    number = 1
    memory_cases = [("500000x2",)]
    timeout = 600

    def setup_cache(self):
        # Here, not in common.py: asv keys the cache by where this function is defined.
        return build_dataset()

    def setup(self, paths, case, impl):
        if (case, impl) in TOO_SLOW:
            raise NotImplementedError(f"{impl} takes minutes on {case}")
        super().setup(paths, case, impl)

    def make_estimator(self, cls, **overrides):
        *_, eps, min_samples = CASES[self.data_params[0]]
        return cls(eps=eps, min_samples=min_samples, **overrides)
