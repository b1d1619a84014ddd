"""Type stub of ``sklearn_rs._core``, the native module (Rust, PyO3).

Arrays are NumPy arrays of float32 or float64: every float array of one call has the dtype of
``sample_weight`` (``centers`` for ``transform``, ``dtype_of`` for ``mean_variance``). Samples
``x`` are a C-contiguous ``(n_samples, n_features)`` array or a CSR matrix given as
``(data, indices, indptr, n_samples, n_features)`` with int32 ``indices`` and int64 ``indptr``.
Centers go in flattened (``(n_clusters * n_features,)``, C order) and come back 2-D.
``n_threads`` is capped by the threadpoolctl limit.
"""

from typing import Literal, Union

import numpy as np
import numpy.typing as npt

_Floats = Union[npt.NDArray[np.float32], npt.NDArray[np.float64]]
_Samples = Union[_Floats, tuple[_Floats, npt.NDArray[np.int32], npt.NDArray[np.int64], int, int]]
_Labels = npt.NDArray[np.int32]
# (kind, iteration, value, tol): kind "iteration" (value: inertia), "strict" (strict
# convergence) or "tol" (value: center shift within tol).
_Event = tuple[Literal["iteration", "strict", "tol"], int, float, float]

def kmeans_single(
    x: _Samples,
    sample_weight: _Floats,
    centers_init: _Floats,
    algorithm: Literal["lloyd", "elkan"],
    max_iter: int,
    tol: float,
    verbose: bool,
    n_threads: int,
) -> tuple[_Labels, float, _Floats, int, list[_Event]]:
    """One k-means run (Lloyd or Elkan): ``(labels, inertia, centers, n_iter, events)``."""

def init_kmeans_plusplus(
    x: _Samples,
    sample_weight: _Floats,
    n_clusters: int,
    n_local_trials: int,
    uniforms: npt.NDArray[np.float64],
    n_threads: int,
) -> tuple[_Floats, npt.NDArray[np.int64]]:
    """Greedy k-means++ from scikit-learn's uniforms: ``(centers, indices)``."""

def init_random(
    x: _Samples,
    sample_weight: _Floats,
    n_clusters: int,
    key: npt.NDArray[np.uint32],
    pos: int,
) -> tuple[_Floats, npt.NDArray[np.int64], npt.NDArray[np.uint32], int]:
    """numpy's ``choice(replace=False, p=...)`` on an MT19937 state:
    ``(centers, indices, key, pos)``."""

def labels_inertia(
    x: _Samples,
    sample_weight: _Floats,
    centers: _Floats,
    with_inertia: bool,
    n_threads: int,
) -> tuple[_Labels, float]:
    """Closest center of every sample and the weighted inertia (0.0 unless ``with_inertia``)."""

def transform(x: _Samples, centers: _Floats, n_threads: int) -> _Floats:
    """Euclidean distances ``(n_samples, n_clusters)`` from each sample to each center."""

def is_same_clustering(labels1: _Labels, labels2: _Labels, n_clusters: int) -> bool:
    """Whether two labelings are the same partition up to a renaming of the clusters."""

def mean_variance(x: _Samples, dtype_of: _Floats, n_threads: int) -> float:
    """Mean over features of the per-feature variance, computed in ``dtype_of``'s dtype."""
