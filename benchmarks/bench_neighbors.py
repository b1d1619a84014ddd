"""Nearest neighbours: sklearn_rs against scikit-learn and scikit-learn-intelex.

Cases of the nearest-neighbours issue, standard-normal data (``common.SEED``):

* ``nn-100000x16-f64`` / ``-f32``: ``NearestNeighbors(n_neighbors=10).fit(X).kneighbors(Q)``,
  ``Q`` 10000 x 16;
* ``clf-100000x16``: ``KNeighborsClassifier(5).fit(X, y).predict(Q)``, 10 classes;
* ``reg-100000x8``: ``KNeighborsRegressor(5, weights="distance").fit(X, y).predict(Q)``,
  ``Q`` 10000 x 8 (``"auto"`` picks a k-d tree for 8 features, in Rust for sklearn_rs);
* ``kdtree-1000000x3``: ``NearestNeighbors(10, algorithm="kd_tree")``, fit 1M x 3 and
  kneighbors of 100000 x 3 (the k-d tree built and queried in Rust);
* ``radius-kdtree-1000000x3``: ``NearestNeighbors(radius=0.0474, algorithm="kd_tree")``, fit
  1M x 3 and radius_neighbors of 100000 x 3 (about 10 neighbours per query; the k-d tree built
  and queried in Rust; scikit-learn-intelex runs scikit-learn's radius queries);
* ``balltree-100000x3``: ``NearestNeighbors(10, algorithm="ball_tree")``, fit 100000 x 3 and
  kneighbors of 10000 x 3 (the ball tree built and queried in Rust);
* ``balltree-haversine-100000x2``: the same with ``metric="haversine"`` on 2 features
  (standard-normal values read as radians);
* ``emb-100000x128-f32``: ``NearestNeighbors(10)``, fit 100000 x 128 and kneighbors of
  5000 x 128, float32;
* ``radius-clf-100000x16``: ``RadiusNeighborsClassifier(radius=2.5,
  outlier_label="most_frequent").fit(X, y).predict(Q)``, ``Q`` 10000 x 16, 10 classes (about
  25 neighbours per query at that radius);
* ``graph-20000x16``: ``kneighbors_graph(X, 10, mode="distance")`` of 20000 x 16, as that
  function computes it: ``NearestNeighbors(n_neighbors=10).fit(X).kneighbors_graph(mode=
  "distance")`` (scikit-learn-intelex patches the class, not the function).

Precomputed distances (``PrecomputedQuery``; points standard normal, 3 features):

* ``pre-graph-100000``: ``KNeighborsClassifier(5, metric="precomputed").fit(G, y).predict(G)``,
  ``G`` the ``kneighbors_graph(X, 20, mode="distance")`` of 100000 points (rows sorted by
  distance, as a ``KNeighborsTransformer`` gives them), 10 classes;
* ``pre-unsorted-100000``: ``NearestNeighbors(10, metric="precomputed").fit(G).kneighbors()``,
  ``G`` that graph with its rows sorted by column (``sort_indices``): each row is sorted by
  value first (with scikit-learn's ``EfficiencyWarning``, silenced here);
* ``pre-dense-5000``: ``KNeighborsClassifier(5, metric="precomputed").fit(D, y).predict(D)``,
  ``D`` the 5000 x 5000 euclidean distances of 5000 points, 10 classes;
* ``csr-20000x2000`` / ``csr-cosine-20000x2000``: ``NearestNeighbors(n_neighbors=10)``
  (euclidean / cosine) fit on a 20000 x 2000 CSR matrix at 1% density and kneighbors of
  2000 x 2000 at the same density (uniform values; scikit-learn's pairwise path on sparse input).

``time_query`` and ``peakmem_query`` measure the whole ``fit(X)`` + query call.
"""

import warnings

import numpy as np

from . import common
from .common import SKLEARN_PEERS, EstimatorBenchmark, case_size, data_key, save_array

#: case -> (class, params, n_fit, n_queries, n_features, dtype, method)
CASES = {
    "nn-100000x16-f64": ("NearestNeighbors", {"n_neighbors": 10}, 100_000, 10_000, 16,
                         np.float64, "kneighbors"),
    "nn-100000x16-f32": ("NearestNeighbors", {"n_neighbors": 10}, 100_000, 10_000, 16,
                         np.float32, "kneighbors"),
    "clf-100000x16": ("KNeighborsClassifier", {"n_neighbors": 5}, 100_000, 10_000, 16,
                      np.float64, "predict"),
    "reg-100000x8": ("KNeighborsRegressor", {"n_neighbors": 5, "weights": "distance"}, 100_000,
                     10_000, 8, np.float64, "predict"),
    "kdtree-1000000x3": ("NearestNeighbors", {"n_neighbors": 10, "algorithm": "kd_tree"},
                         1_000_000, 100_000, 3, np.float64, "kneighbors"),
    "radius-kdtree-1000000x3": ("NearestNeighbors", {"radius": 0.0474, "algorithm": "kd_tree"},
                                1_000_000, 100_000, 3, np.float64, "radius_neighbors"),
    "balltree-100000x3": ("NearestNeighbors", {"n_neighbors": 10, "algorithm": "ball_tree"},
                          100_000, 10_000, 3, np.float64, "kneighbors"),
    "balltree-haversine-100000x2": ("NearestNeighbors",
                                    {"n_neighbors": 10, "algorithm": "ball_tree",
                                     "metric": "haversine"},
                                    100_000, 10_000, 2, np.float64, "kneighbors"),
    "emb-100000x128-f32": ("NearestNeighbors", {"n_neighbors": 10}, 100_000, 5_000, 128,
                           np.float32, "kneighbors"),
    "radius-clf-100000x16": ("RadiusNeighborsClassifier",
                             {"radius": 2.5, "outlier_label": "most_frequent"}, 100_000, 10_000,
                             16, np.float64, "predict"),
    "graph-20000x16": ("NearestNeighbors", {"n_neighbors": 10}, 20_000, 0, 16, np.float64,
                       "kneighbors_graph"),
}


def make_data(case):
    _, _, n, m, d, dtype, _ = CASES[case]
    n, m = case_size((n, m), (500, 50))
    rng = np.random.RandomState(common.SEED)
    X = rng.standard_normal((n, d)).astype(dtype)
    Q = rng.standard_normal((m, d)).astype(dtype)
    classes = case.startswith(("clf", "radius-clf"))
    y = rng.randint(0, 10, size=n) if classes else rng.standard_normal(n)
    return X, Q, y


def build_dataset(cases=tuple(CASES)):
    data = {}
    for case in cases:
        X, Q, y = make_data(case)
        data[data_key(case)] = {
            "X": save_array(f"neighbors-X-{case}", X),
            "Q": save_array(f"neighbors-Q-{case}", Q),
            "y": save_array(f"neighbors-y-{case}", y),
        }
    return data


class NeighborsQuery(EstimatorBenchmark):
    """``fit(X)`` then the case's query of ``Q``: time and peak memory."""

    module, name = "neighbors", None
    params = [list(CASES), SKLEARN_PEERS]
    param_names = ["case", "impl"]
    number = 1
    timeout = 600
    # Brute force's chunked search and the k-d tree's copy of the data: the two memory profiles.
    memory_cases = [("nn-100000x16-f64",), ("kdtree-1000000x3",)]

    def setup_cache(self):
        # Here, not in common.py: asv keys the cache by where this function is defined.
        return build_dataset()

    def setup(self, paths, case, impl):
        self.name = CASES[case][0]
        super().setup(paths, case, impl)

    def make_estimator(self, cls, **overrides):
        return cls(**{**CASES[self.data_params[0]][1], **overrides})

    def _query(self):
        est = self.make_estimator(self.cls).fit(self.X, self.y)
        method = CASES[self.data_params[0]][6]
        if method == "kneighbors_graph":  # the fitted samples' graph, each without itself
            return est.kneighbors_graph(mode="distance")
        return getattr(est, method)(self.data["Q"])

    def time_query(self, *params):
        """``fit(X)`` and the case's query of ``Q`` (kneighbors, radius_neighbors or predict)."""
        self._query()

    def peakmem_query(self, *params):
        """Peak resident memory of the process over ``fit(X)`` and the query."""
        self._query()


#: case -> (class, params, n_samples, storage)
PRECOMPUTED_CASES = {
    "pre-graph-100000": ("KNeighborsClassifier", {"n_neighbors": 5}, 100_000, "graph"),
    "pre-unsorted-100000": ("NearestNeighbors", {"n_neighbors": 10}, 100_000, "unsorted"),
    "pre-dense-5000": ("KNeighborsClassifier", {"n_neighbors": 5}, 5_000, "dense"),
}


def make_precomputed_data(case):
    """The case's distances (a dense matrix, or a CSR graph's ``data`` as ``X`` with its
    ``indices`` and ``indptr``) and class labels."""
    from sklearn.metrics import pairwise_distances
    from sklearn.neighbors import kneighbors_graph

    _, _, n, storage = PRECOMPUTED_CASES[case]
    n = case_size(n, 300)
    rng = np.random.RandomState(common.SEED)
    X = rng.standard_normal((n, 3))
    y = rng.randint(0, 10, size=n)
    if storage == "dense":
        return {"X": pairwise_distances(X), "y": y}
    graph = kneighbors_graph(X, 20, mode="distance")
    if storage == "unsorted":
        graph.sort_indices()
    return {"X": graph.data, "X_indices": graph.indices, "X_indptr": graph.indptr, "y": y}


class PrecomputedQuery(EstimatorBenchmark):
    """``fit`` on precomputed distances, then the case's query: time and peak memory."""

    module, name = "neighbors", None
    params = [list(PRECOMPUTED_CASES), SKLEARN_PEERS]
    param_names = ["case", "impl"]
    number = 1
    timeout = 600
    memory_cases = [("pre-graph-100000",)]

    def setup_cache(self):
        data = {}
        for case in PRECOMPUTED_CASES:
            data[data_key(case)] = {
                name: save_array(f"neighbors-pre-{name}-{case}", array)
                for name, array in make_precomputed_data(case).items()
            }
        return data

    def setup(self, paths, case, impl):
        import scipy.sparse as sp

        self.name = PRECOMPUTED_CASES[case][0]
        super().setup(paths, case, impl)
        if "X_indptr" in self.data:  # a graph: "X" holds its values
            n = len(self.data["X_indptr"]) - 1
            self.X = sp.csr_matrix(
                (self.data["X"], self.data["X_indices"], self.data["X_indptr"]), shape=(n, n))

    def make_estimator(self, cls, **overrides):
        params = PRECOMPUTED_CASES[self.data_params[0]][1]
        return cls(**{**params, "metric": "precomputed", **overrides})

    def _query(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EfficiencyWarning of the unsorted graph
            if PRECOMPUTED_CASES[self.data_params[0]][0] == "NearestNeighbors":
                return self.make_estimator(self.cls).fit(self.X).kneighbors()
            return self.make_estimator(self.cls).fit(self.X, self.y).predict(self.X)

    def time_query(self, *params):
        """``fit`` and the case's query (predict of the fitted distances, or kneighbors)."""
        self._query()

    def peakmem_query(self, *params):
        """Peak resident memory of the process over ``fit`` and the query."""
        self._query()


#: case -> (metric, n_fit, n_queries, n_features, density)
SPARSE_CASES = {
    "csr-20000x2000": ("euclidean", 20_000, 2_000, 2_000, 0.01),
    "csr-cosine-20000x2000": ("cosine", 20_000, 2_000, 2_000, 0.01),
}


def make_sparse_data(case):
    """The fitted samples and the queries, each as its CSR arrays."""
    import scipy.sparse as sp

    _, n, m, d, density = SPARSE_CASES[case]
    n, m = case_size((n, m), (500, 50))
    out = {}
    for name, rows, seed in (("X", n, common.SEED), ("Q", m, common.SEED + 1)):
        a = sp.random(rows, d, density=density, format="csr", random_state=seed)
        out.update({name: a.data, f"{name}_indices": a.indices, f"{name}_indptr": a.indptr})
    return out


class SparseQuery(EstimatorBenchmark):
    """``NearestNeighbors(10).fit(X).kneighbors(Q)`` on CSR samples: time and peak memory."""

    module, name = "neighbors", "NearestNeighbors"
    params = [list(SPARSE_CASES), SKLEARN_PEERS]
    param_names = ["case", "impl"]
    number = 1
    timeout = 600
    memory_cases = [("csr-20000x2000",)]

    def setup_cache(self):
        data = {}
        for case in SPARSE_CASES:
            data[data_key(case)] = {
                name: save_array(f"neighbors-csr-{name}-{case}", array)
                for name, array in make_sparse_data(case).items()
            }
        return data

    def setup(self, paths, case, impl):
        import scipy.sparse as sp

        super().setup(paths, case, impl)
        d = SPARSE_CASES[case][3]
        self.X, self.Q = (
            sp.csr_matrix((self.data[k], self.data[f"{k}_indices"], self.data[f"{k}_indptr"]),
                          shape=(len(self.data[f"{k}_indptr"]) - 1, d))
            for k in ("X", "Q"))

    def make_estimator(self, cls, **overrides):
        metric = SPARSE_CASES[self.data_params[0]][0]
        return cls(**{"n_neighbors": 10, "metric": metric, **overrides})

    def _query(self):
        return self.make_estimator(self.cls).fit(self.X).kneighbors(self.Q)

    def time_query(self, *params):
        """``fit(X)`` and ``kneighbors(Q)``."""
        self._query()

    def peakmem_query(self, *params):
        """Peak resident memory of the process over ``fit(X)`` and the query."""
        self._query()
