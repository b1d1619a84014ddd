"""An ordinary scikit-learn script (nothing sklearn_rs-specific): a scaled k-means pipeline
tuned by GridSearchCV over n_clusters, in two joblib worker processes.

    python grid_search_kmeans.py OUT.json

Writes the search's results to OUT.json. The scorer also writes, from whichever process runs
it, one record to OUT.json.records/: the process id, the class of the KMeans it scored and
what ``sklearn.cluster.KMeans`` is in that process.
"""

import json
import os
import sys
import uuid

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import silhouette_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


class RecordingSilhouette:
    """Silhouette score of the clustering; notes where and with which classes it ran."""

    def __init__(self, record_dir):
        self.record_dir = record_dir

    def __call__(self, estimator, X, y=None):
        import sklearn.cluster

        record = {
            "pid": os.getpid(),
            "fitted_class": type(estimator[-1]).__module__ + "." + type(estimator[-1]).__name__,
            "sklearn_cluster_KMeans": sklearn.cluster.KMeans.__module__,
        }
        path = os.path.join(self.record_dir, f"{os.getpid()}-{uuid.uuid4().hex}.json")
        with open(path, "w") as f:
            json.dump(record, f)
        return silhouette_score(estimator[:-1].transform(X), estimator.predict(X))


def main(out_path):
    record_dir = out_path + ".records"
    os.makedirs(record_dir, exist_ok=True)
    X, _ = make_blobs(n_samples=300, n_features=4, centers=4, cluster_std=1.0, random_state=0)
    pipe = Pipeline([("scale", StandardScaler()), ("kmeans", KMeans(n_init=3, random_state=0))])
    search = GridSearchCV(
        pipe,
        {"kmeans__n_clusters": [2, 3, 4, 5, 6]},
        scoring=RecordingSilhouette(record_dir),
        cv=3,
        n_jobs=2,
    )
    search.fit(X)
    best = search.best_estimator_
    labels = best.predict(X)
    result = {
        "pid": os.getpid(),
        "best_params": search.best_params_,
        "mean_test_score": search.cv_results_["mean_test_score"].tolist(),
        "best_class": type(best[-1]).__module__ + "." + type(best[-1]).__name__,
        "sklearn_cluster_KMeans": KMeans.__module__,
        "labels": labels.tolist(),
        "inertia": float(best[-1].inertia_),
        "centers": np.sort(best[-1].cluster_centers_, axis=0).tolist(),
    }
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1])
