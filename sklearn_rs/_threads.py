"""Thread count of the Rust kernels.

Each call uses as many threads as scikit-learn would give its OpenMP loops
(``_openmp_effective_n_threads``: ``OMP_NUM_THREADS``, then the usable CPU count). On top of
that, the native module exports a thread limit that threadpoolctl controls through the
controller registered here, so ``threadpool_limits(1)`` applies to sklearn_rs as well.
"""

from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import LibController, register

from sklearn_rs import _core


def effective_n_threads() -> int:
    """Threads to request for one call (the native side caps it by threadpoolctl's limit)."""
    return max(1, int(_openmp_effective_n_threads()))


def n_jobs_threads(n_jobs) -> int:
    """Threads for an estimator with an ``n_jobs`` parameter: the default of every other call,
    lowered to joblib's count when ``n_jobs`` is set (never more threads than cores)."""
    n = effective_n_threads()
    if n_jobs is not None:
        from joblib import effective_n_jobs

        n = min(n, effective_n_jobs(n_jobs))
    return max(1, int(n))


class SklearnRsController(LibController):
    """threadpoolctl controller of sklearn_rs's rayon pools."""

    user_api = "sklearn_rs"
    internal_api = "rayon"
    filename_prefixes = ("_core",)
    check_symbols = ("sklearn_rs_get_num_threads", "sklearn_rs_set_num_threads")

    def get_num_threads(self):
        return self.dynlib.sklearn_rs_get_num_threads()

    def set_num_threads(self, num_threads):
        self.dynlib.sklearn_rs_set_num_threads(int(num_threads))

    def get_version(self):
        from sklearn_rs import __version__

        return __version__


def register_threadpoolctl_controller() -> None:
    register(SklearnRsController)


__all__ = ["effective_n_threads", "n_jobs_threads", "register_threadpoolctl_controller", "_core"]
