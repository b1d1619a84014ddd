"""sklearn_rs estimators on dask arrays, computed on a dask.distributed cluster.

The data stays on the workers (persisted once per fit, row-chunked); each pass runs the Rust
kernels on the chunks where they live and sends back partial results, which the client
combines in the order the single-machine fit combines them, so the fitted attributes are
bitwise those of the single-machine estimator on the gathered data. Needs ``dask[array]`` and
``distributed``; import it only where they are installed.
"""

from sklearn_rs.dask._blocks import worker_info
from sklearn_rs.dask._kmeans import KMeans
from sklearn_rs.dask._minibatch import MiniBatchKMeans
from sklearn_rs.dask._pca import PCA
from sklearn_rs.dask._scaler import StandardScaler
from sklearn_rs.dask._wrappers import ParallelPostFit

__all__ = [
    "KMeans", "MiniBatchKMeans", "PCA", "ParallelPostFit", "StandardScaler", "worker_info"
]
