"""Settings and data helpers shared by the benchmark modules (numpy only: no torch import here)."""

import os

import numpy as np

#: Threads given to every implementation (scikit-learn's OpenMP/BLAS pools, sklearn_rs's rayon
#: pool through threadpoolctl, torch.set_num_threads). The reference machine has 2 cores.
N_THREADS = int(os.environ.get("BENCH_NUM_THREADS", "2"))

#: Fixed seed: every run on every commit benchmarks exactly the same data.
SEED = 20240607


def limit_threads():
    """Limit scikit-learn's and sklearn_rs's thread pools to N_THREADS for this process."""
    from threadpoolctl import threadpool_limits

    # Not used as a context manager: the limit stays in force for the rest of the benchmark process.
    threadpool_limits(limits=N_THREADS)


def save_array(name, array):
    """Write ``array`` to ``<cwd>/<name>.npy`` (asv's setup_cache directory); return its path."""
    path = os.path.abspath(f"{name}.npy")
    np.save(path, array)
    return path


def load_array(path):
    """Load an array written by ``save_array`` fully into memory (no memory map while timing)."""
    return np.ascontiguousarray(np.load(path))
