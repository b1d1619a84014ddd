"""Thread count of the Rust kernels.

Each call uses as many threads as scikit-learn would give its OpenMP loops
(``_openmp_effective_n_threads``: ``OMP_NUM_THREADS``, then the usable CPU count). On top of
that, the native module exports a thread limit that threadpoolctl controls through the
controller registered here, so ``threadpool_limits(1)`` applies to sklearn_rs as well.
"""

import functools

import numpy as np
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import LibController, register

from sklearn_rs import _core as _native


def _aligned(value):
    """``value`` with an unaligned NumPy array (or one in a tuple: a CSR view) copied to aligned
    memory; anything else as it is."""
    if isinstance(value, np.ndarray) and not value.flags.aligned:
        return np.require(value, requirements=["A"])
    if isinstance(value, tuple):
        return tuple(_aligned(v) for v in value)
    return value


class _AlignedCore:
    """The native module, with unaligned array arguments copied first. NumPy calls an array
    whose data pointer is not a multiple of its item size (a buffer received over a network,
    as dask.distributed's are) C-contiguous; the Rust side reads elements as aligned values and
    refuses it, while scikit-learn accepts it. Functions are looked up on the module at each
    call, so a function replaced on ``sklearn_rs._core`` is the one called."""

    def __getattr__(self, name):
        function = getattr(_native, name)
        if not callable(function):
            return function

        @functools.wraps(function)
        def call(*args, **kwargs):
            return function(*map(_aligned, args), **{k: _aligned(v) for k, v in kwargs.items()})

        return call


_core = _AlignedCore()


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
