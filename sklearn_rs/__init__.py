"""scikit-learn-compatible estimators whose numerics are written in Rust.

``from sklearn_rs import KMeans`` is a drop-in replacement for
``sklearn.cluster.KMeans``: same parameters, attributes, methods, warnings and errors.
"""

from sklearn_rs import _threads
from sklearn_rs._dbscan import DBSCAN, dbscan
from sklearn_rs._kmeans import KMeans, k_means, kmeans_plusplus
from sklearn_rs._linear import LinearRegression
from sklearn_rs._logistic import LogisticRegression
from sklearn_rs._minibatch import MiniBatchKMeans
from sklearn_rs._neighbors import (
    KNeighborsClassifier,
    KNeighborsRegressor,
    NearestNeighbors,
    RadiusNeighborsClassifier,
    RadiusNeighborsRegressor,
)
from sklearn_rs._neighbors_graph import (
    KNeighborsTransformer,
    RadiusNeighborsTransformer,
    kneighbors_graph,
    radius_neighbors_graph,
)
from sklearn_rs._patch import is_patched, patch_sklearn, patched, unpatch_sklearn
from sklearn_rs._pca import PCA
from sklearn_rs._ridge import Ridge
from sklearn_rs._scaler import StandardScaler

__all__ = [
    "KMeans",
    "k_means",
    "kmeans_plusplus",
    "MiniBatchKMeans",
    "StandardScaler",
    "PCA",
    "LinearRegression",
    "Ridge",
    "LogisticRegression",
    "DBSCAN",
    "dbscan",
    "NearestNeighbors",
    "KNeighborsClassifier",
    "KNeighborsRegressor",
    "RadiusNeighborsClassifier",
    "RadiusNeighborsRegressor",
    "KNeighborsTransformer",
    "RadiusNeighborsTransformer",
    "kneighbors_graph",
    "radius_neighbors_graph",
    "patch_sklearn",
    "unpatch_sklearn",
    "is_patched",
    "patched",
]
__version__ = "0.1.0"

_threads.register_threadpoolctl_controller()
