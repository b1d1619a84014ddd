"""Prints, as JSON, how it was started and what ``sklearn.cluster.KMeans`` is: run as a
script or with ``-m report_state``."""

import json
import sys

import sklearn.cluster

if __name__ == "__main__":
    print(json.dumps({
        "name": __name__,
        "argv": sys.argv,
        "path0": sys.path[0],
        "KMeans": sklearn.cluster.KMeans.__module__,
        "k_means": sklearn.cluster.k_means.__module__,
        "kmeans_plusplus": sklearn.cluster.kmeans_plusplus.__module__,
    }))
