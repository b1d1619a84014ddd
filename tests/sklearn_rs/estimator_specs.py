"""How the common tests (test_common*.py) build and exercise each registered estimator.

One ``EstimatorSpec`` per estimator class in the patch registry (``sklearn_rs._patch``);
``test_common.py`` fails if a registered class has no entry here. Adding an estimator means
adding its entry to ``SPECS``: every common test then runs on it.
"""

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import scipy.sparse as sp
from skrs_utils import init_from_samples, make_blobs_data
from sklearn.utils.validation import validate_data

from sklearn_rs import _patch
from sklearn_rs._base import sklearn_base_class


@dataclass(frozen=True)
class EstimatorSpec:
    #: Name in the patch registry.
    name: str
    #: Parameters of the instances the common tests build (small and quick).
    params: dict
    #: ``make_data(n_samples, seed) -> (X, y)``: float64 data, ``y`` is ``None`` when unused.
    make_data: Callable
    #: Methods compared after a fit, each called with ``X`` (``score`` with ``X, y``).
    methods: tuple
    #: ``comparable_params(X) -> dict``: extra parameters under which our results equal
    #: scikit-learn's to rounding on ``X`` (e.g. a fixed initial state).
    comparable_params: Callable
    #: scikit-learn's input validation of ``fit``: ``validate(sklearn_estimator, X)`` raises
    #: what scikit-learn raises before any numerics run.
    validate: Callable
    #: Parameter grid for the GridSearchCV test (on top of ``comparable_params``).
    grid: dict
    #: Variants of ``params`` whose fits must be bitwise identical for any thread count.
    thread_variants: dict = field(default_factory=lambda: {"default": {}})
    #: Whether ``fit`` takes ``sample_weight`` and whether CSR input is computed in Rust.
    sample_weight: bool = True
    sparse: bool = True
    #: The checks scikit-learn declares as expected failures for its own class today (the
    #: common suite uses scikit-learn's list; this guards against it changing unnoticed).
    sklearn_expected_failures: frozenset = frozenset()
    #: Relative tolerance of float outputs compared with scikit-learn's (float64 data).
    rtol: float = 1e-7
    #: For estimators without ``score``: ``search_wrapper(est)`` is what GridSearchCV tunes (a
    #: Pipeline whose first step is ``est``; the grid names its parameters).
    search_wrapper: Optional[Callable] = None
    #: For supervised estimators: ``make_target(n_samples, seed) -> y`` for inputs the tests
    #: make up (fuzzed X of any shape).
    make_target: Optional[Callable] = None
    #: For estimators without ``score``: the ``scoring`` callable GridSearchCV rates fits with
    #: (instead of a ``search_wrapper``).
    search_scoring: Optional[Callable] = None
    #: Samples of the thread-count test's data (outputs the size of ``n_samples**2``, such as
    #: neighbour graphs, need fewer).
    thread_n_samples: int = 20000

    @property
    def ours(self):
        return _resolve(_patch._REGISTRY[self.name].replacement)

    @property
    def theirs(self):
        return sklearn_base_class(self.ours)

    def build(self, cls, **overrides):
        return cls(**{**self.params, **overrides})

    def data(self, n_samples=60, seed=0):
        return self.make_data(n_samples, seed)

    def searched(self, est):
        """What GridSearchCV tunes for ``est``."""
        return est if self.search_wrapper is None else self.search_wrapper(est)

    def searched_estimator(self, best):
        """The estimator of this spec inside GridSearchCV's ``best_estimator_``."""
        return best if self.search_wrapper is None else best[0]


def _resolve(path):
    module, attr = _patch._resolve(path)
    return getattr(module, attr)


def call_method(est, method, X, y=None):
    """``est.<method>(X)``; ``score`` also gets ``y``. A sparse result comes back dense."""
    if method == "score":
        return est.score(X, y)
    result = getattr(est, method)(X)
    return result.toarray() if sp.issparse(result) else result


def fit(est, X, y=None, sample_weight=None):
    kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
    return est.fit(X, y, **kwargs)


# --- KMeans ---------------------------------------------------------------------------------

def _kmeans_data(n_samples, seed):
    return make_blobs_data(n_samples=n_samples, n_features=3, n_centers=3, seed=seed), None


def _kmeans_validate(est, X):
    X = validate_data(est, X, accept_sparse="csr", dtype=[np.float64, np.float32], order="C",
                      accept_large_sparse=False)
    est._check_params_vs_input(X)


KMEANS = EstimatorSpec(
    name="KMeans",
    params=dict(n_clusters=3, n_init=2, random_state=0),
    make_data=_kmeans_data,
    methods=("predict", "transform", "score"),
    comparable_params=lambda X: dict(init=init_from_samples(X, 3), n_init=1),
    validate=_kmeans_validate,
    grid={"max_iter": [1, 2, 10]},
    thread_variants={
        f"{algorithm}-{init}": dict(
            n_clusters=12, algorithm=algorithm, init=init, n_init=2, max_iter=30)
        for algorithm in ("lloyd", "elkan")
        for init in ("k-means++", "random")
    },
    sklearn_expected_failures=frozenset({
        "check_sample_weight_equivalence_on_dense_data",
        "check_sample_weight_equivalence_on_sparse_data",
    }),
)

MINIBATCH_KMEANS = EstimatorSpec(
    name="MiniBatchKMeans",
    params=dict(n_clusters=3, n_init=2, batch_size=16, random_state=0),
    make_data=_kmeans_data,
    methods=("predict", "transform", "score"),
    comparable_params=lambda X: dict(init=init_from_samples(X, 3), n_init=1),
    validate=_kmeans_validate,
    grid={"max_iter": [1, 2, 10]},
    thread_variants={
        f"{init}-{batch_size}": dict(
            n_clusters=12, init=init, n_init=2, batch_size=batch_size, max_iter=20,
            reassignment_ratio=0.05)
        for init in ("k-means++", "random")
        for batch_size in (64, 1024)
    },
    sklearn_expected_failures=frozenset({
        "check_sample_weight_equivalence_on_dense_data",
        "check_sample_weight_equivalence_on_sparse_data",
    }),
)

# --- StandardScaler -------------------------------------------------------------------------

def _scaler_data(n_samples, seed):
    # Features of different offsets and spreads, one of them constant.
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, 3)) * [1.0, 3.0, 2.0] + [0.0, 10.0, 1e3]
    X[:, 1] = 7.0
    return X, None


def _scaler_validate(est, X):
    from sklearn.utils._array_api import get_namespace_and_device, supported_float_dtypes

    xp, _, device = get_namespace_and_device(X)
    validate_data(est, X, accept_sparse=("csr", "csc"), dtype=supported_float_dtypes(xp, device),
                  ensure_all_finite="allow-nan", reset=True)


def _scaler_search(est):
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline

    return Pipeline([("scaler", est), ("pca", PCA(n_components=2))])


# Sparse input needs with_mean=False (scikit-learn raises otherwise): the common suite runs the
# centring default on dense data; sparse input is covered by test_scaler_sparse.py.
STANDARD_SCALER = EstimatorSpec(
    name="StandardScaler",
    params={},
    make_data=_scaler_data,
    methods=("transform", "inverse_transform"),
    comparable_params=lambda X: {},
    validate=_scaler_validate,
    grid={"scaler__with_std": [True, False], "scaler__with_mean": [True, False]},
    thread_variants={
        "default": {},
        "without-mean": {"with_mean": False},
        "without-std": {"with_std": False},
    },
    sparse=False,
    sklearn_expected_failures=frozenset({"check_array_api_same_namespace"}),
    search_wrapper=_scaler_search,
)

# --- PCA ------------------------------------------------------------------------------------

def _pca_data(n_samples, seed):
    # Three correlated features with offsets: two strong directions over a noise floor.
    rng = np.random.RandomState(seed)
    latent = rng.standard_normal((n_samples, 2)) * [5.0, 2.0]
    X = latent @ rng.standard_normal((2, 3)) + 0.1 * rng.standard_normal((n_samples, 3))
    return X + [0.0, 10.0, -2.0], None


def _pca_validate(est, X):
    import scipy.sparse as sp

    if sp.issparse(X) and est.svd_solver not in ["auto", "arpack", "covariance_eigh"]:
        raise TypeError(f'PCA only support sparse inputs with the "arpack" and'
                        f' "covariance_eigh" solvers, while "{est.svd_solver}" was passed.')
    validate_data(est, X, dtype=[np.float64, np.float32], force_writeable=True,
                  accept_sparse=("csr", "csc"), ensure_2d=True, copy=False)


# Sparse input takes the arpack and covariance_eigh solvers only (scikit-learn raises for the
# others), so the thread variants are those; full and randomized are covered on dense data by
# test_pca_threads.py.
PCA_SPEC = EstimatorSpec(
    name="PCA",
    params=dict(n_components=2, random_state=0),
    make_data=_pca_data,
    # score_samples and score take dense X only (as scikit-learn's): test_pca_api.py.
    methods=("transform",),
    comparable_params=lambda X: {},
    validate=_pca_validate,
    # With 3 features, n_components=2 and 3 have the same likelihood (a tie broken by rounding).
    grid={"n_components": [1, 2]},
    thread_variants={
        "auto": {},
        "arpack": {"svd_solver": "arpack"},
        "covariance_eigh-whiten": {"svd_solver": "covariance_eigh", "whiten": True},
    },
    sample_weight=False,
    sklearn_expected_failures=frozenset({"check_array_api_input", "check_array_api_mixed_inputs"}),
    rtol=1e-9,
)

# --- LinearRegression and Ridge -------------------------------------------------------------

def _regression_target(n_samples, seed):
    return np.random.RandomState(seed + 1000).standard_normal(n_samples)


def _regression_data(n_samples, seed):
    # Three correlated features with offsets; a noisy linear target with an intercept.
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, 3)) @ [[1.0, 0.5, 0.0], [0.0, 2.0, 0.3], [0.0, 0.0, 3.0]]
    X += [1.0, 4.0, -2.0]
    y = X @ [1.5, -2.0, 0.5] + 3.0 + 0.3 * _regression_target(n_samples, seed)
    return X, y


def _linear_regression_validate(est, X):
    validate_data(est, X, accept_sparse=False if est.positive else ["csr", "csc", "coo"])


LINEAR_REGRESSION = EstimatorSpec(
    name="LinearRegression",
    params={},
    make_data=_regression_data,
    methods=("predict", "score"),
    comparable_params=lambda X: {},
    validate=_linear_regression_validate,
    grid={"fit_intercept": [True, False]},
    thread_variants={"default": {}, "no-intercept": {"fit_intercept": False}},
    make_target=_regression_target,
)


def _ridge_validate(est, X):
    import scipy.sparse as sp
    from sklearn.linear_model._ridge import _get_valid_accept_sparse

    validate_data(est, X, accept_sparse=_get_valid_accept_sparse(sp.issparse(X), est.solver),
                  dtype=[np.float64, np.float32])


# The common containers include CSR with an intercept: the variants are the solvers that take
# it; cholesky and svd (dense only) are covered by test_linear_equivalence.py.
RIDGE = EstimatorSpec(
    name="Ridge",
    params=dict(alpha=1.0),
    make_data=_regression_data,
    methods=("predict", "score"),
    comparable_params=lambda X: {},
    validate=_ridge_validate,
    grid={"alpha": [0.1, 1.0, 10.0]},
    thread_variants={
        "auto": {},
        "lsqr": {"solver": "lsqr", "tol": 1e-8},
        "sparse_cg": {"solver": "sparse_cg", "tol": 1e-8},
    },
    sklearn_expected_failures=frozenset({"check_non_transformer_estimators_n_iter"}),
    rtol=1e-6,
    make_target=_regression_target,
)


# --- LogisticRegression ---------------------------------------------------------------------

def _classification_target(n_samples, seed):
    return np.arange(n_samples) % 3


def _classification_data(n_samples, seed):
    # Three overlapping Gaussian classes in three features (a multinomial problem whose
    # optimum is finite).
    rng = np.random.RandomState(seed)
    y = rng.permutation(_classification_target(n_samples, seed))
    centers = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 0.0], [0.0, 2.0, 1.0]])
    X = centers[y] + rng.standard_normal((n_samples, 3))
    return X, y


def _logistic_validate(est, X):
    validate_data(est, X, accept_sparse="csr", dtype=[np.float64, np.float32], order="C")


def _logistic_comparable(X):
    # A few iterations with no tolerance: both sides take the same L-BFGS-B steps, and
    # neither meets a stopping test whose outcome rounding decides (at tol=1e-10, the
    # iteration where the gradient or the relative reduction falls under it can differ by one).
    return dict(tol=0.0, max_iter=3)


LOGISTIC_REGRESSION = EstimatorSpec(
    name="LogisticRegression",
    params={},
    make_data=_classification_data,
    methods=("predict", "predict_proba", "decision_function", "score"),
    # Compared after a few iterations (see _logistic_comparable); in float32 scikit-learn
    # evaluates the objective in float32 arithmetic (ours in float64), so the stopping point
    # of converged fits differs too. Converged fits: test_logistic_equivalence.py.
    comparable_params=_logistic_comparable,
    validate=_logistic_validate,
    grid={"C": [0.1, 1.0, 10.0]},
    thread_variants={
        "lbfgs": {},
        "unpenalized": {"C": np.inf, "max_iter": 50},
        "newton-cholesky": {"solver": "newton-cholesky", "class_weight": "balanced"},
    },
    sklearn_expected_failures=frozenset({
        "check_sample_weight_equivalence_on_dense_data",
        "check_sample_weight_equivalence_on_sparse_data",
    }),
    rtol=1e-6,
    make_target=_classification_target,
)


# --- DBSCAN ---------------------------------------------------------------------------------

def _dbscan_data(n_samples, seed):
    # Blobs with noise between them: core points, border points and noise at eps=0.8.
    return make_blobs_data(n_samples=n_samples, n_features=3, n_centers=4, spread=6.0,
                           seed=seed), None


def _dbscan_validate(est, X):
    validate_data(est, X, accept_sparse="csr")


def _dbscan_score(est, X, y=None):
    # DBSCAN has no score: GridSearchCV rates a fit by the clusters it finds in the test fold.
    return float(len(np.unique(est.fit_predict(X))))


DBSCAN_SPEC = EstimatorSpec(
    name="DBSCAN",
    params=dict(eps=0.8, min_samples=4),
    make_data=_dbscan_data,
    methods=("fit_predict",),
    comparable_params=lambda X: {},
    validate=_dbscan_validate,
    grid={"eps": [0.3, 0.8, 2.0]},
    thread_variants={
        "default": {},
        "manhattan": {"metric": "manhattan"},
        "min-samples-1": {"min_samples": 1, "eps": 0.2},
    },
    search_scoring=_dbscan_score,
)


# --- Nearest neighbours ----------------------------------------------------------------------

def _neighbors_data(n_samples, seed):
    rng = np.random.RandomState(seed)
    return rng.standard_normal((n_samples, 3)), None


def _neighbors_validate(est, X):
    validate_data(est, X, accept_sparse="csr", order="C")


def _neighbors_score(est, X, y=None):
    # NearestNeighbors has no score: GridSearchCV rates a fit by its test fold's neighbours.
    return -float(est.kneighbors(X)[0].mean())


# NearestNeighbors has no predict/transform/score: its queries are compared by
# test_neighbors_equivalence.py (threads included); the common suite checks fit, pickling,
# clone, the fallback, errors and a search scored by kneighbors.
NEAREST_NEIGHBORS = EstimatorSpec(
    name="NearestNeighbors",
    # algorithm="auto" would pick a k-d tree for 3 features (run by scikit-learn's code).
    params=dict(n_neighbors=3, algorithm="brute"),
    make_data=_neighbors_data,
    methods=(),
    comparable_params=lambda X: {},
    validate=_neighbors_validate,
    grid={"n_neighbors": [1, 3, 5]},
    sample_weight=False,
    search_scoring=_neighbors_score,
)


# algorithm="brute": "auto" picks a k-d tree for 3 features (run by scikit-learn's code).
K_NEIGHBORS_CLASSIFIER = EstimatorSpec(
    name="KNeighborsClassifier",
    params=dict(n_neighbors=5, algorithm="brute"),
    make_data=_classification_data,
    methods=("predict", "predict_proba", "score"),
    comparable_params=lambda X: {},
    validate=_neighbors_validate,
    grid={"n_neighbors": [1, 5, 9], "weights": ["uniform", "distance"]},
    thread_variants={"uniform": {}, "distance": {"weights": "distance"}},
    sample_weight=False,
    make_target=_classification_target,
)

K_NEIGHBORS_REGRESSOR = EstimatorSpec(
    name="KNeighborsRegressor",
    params=dict(n_neighbors=5, algorithm="brute"),
    make_data=_regression_data,
    methods=("predict", "score"),
    comparable_params=lambda X: {},
    validate=_neighbors_validate,
    grid={"n_neighbors": [1, 5, 9], "weights": ["uniform", "distance"]},
    thread_variants={"uniform": {}, "distance": {"weights": "distance"}},
    sample_weight=False,
    make_target=_regression_target,
)



def _spread(make_data):
    """``make_data`` with X scaled by ``(n_samples / 60) ** (1 / 3)``: in three features a
    radius then finds about as many neighbours at every sample count (the thread-count test's
    20000 samples would otherwise give every query thousands)."""
    def spread(n_samples, seed):
        X, y = make_data(n_samples, seed)
        return X * (max(n_samples, 1) / 60) ** (1 / 3), y
    return spread


# Predictions on the training samples always have neighbours (each sample itself); held-out
# folds of GridSearchCV can have none: the classifier labels them "most_frequent", the
# regressor's radii keep at least one neighbour.
RADIUS_NEIGHBORS_CLASSIFIER = EstimatorSpec(
    name="RadiusNeighborsClassifier",
    params=dict(radius=2.0, algorithm="brute", outlier_label="most_frequent"),
    make_data=_spread(_classification_data),
    methods=("predict", "predict_proba", "score"),
    comparable_params=lambda X: {},
    validate=_neighbors_validate,
    grid={"radius": [1.5, 2.0, 3.0]},
    thread_variants={"uniform": {}, "manhattan": {"metric": "manhattan"},
                     "kd_tree": {"algorithm": "kd_tree"}},
    sample_weight=False,
    make_target=_classification_target,
)

RADIUS_NEIGHBORS_REGRESSOR = EstimatorSpec(
    name="RadiusNeighborsRegressor",
    params=dict(radius=5.0, algorithm="brute"),
    make_data=_spread(_regression_data),
    methods=("predict", "score"),
    comparable_params=lambda X: {},
    validate=_neighbors_validate,
    grid={"radius": [5.0, 6.0, 8.0]},
    thread_variants={"default": {}, "kd_tree": {"algorithm": "kd_tree"}},
    sample_weight=False,
    make_target=_regression_target,
)


def _graph_score(est, X, y=None):
    # Transformers have no score: GridSearchCV rates a fit by the fitted samples its test
    # fold's graph reaches.
    return float(len(np.unique(est.transform(X).indices)))


def _connectivity(X):
    # A sample's distance to itself (on the diagonal of a k-nearest graph of the fitted
    # samples) is |x|^2 - 2 x.x + |x|^2 on both sides, 0 to about 1e-8 depending on the
    # summation order: distances are compared with that tolerance in
    # test_radius_neighbors_equivalence.py, the common tests compare the graph's structure.
    return {"mode": "connectivity"}


K_NEIGHBORS_TRANSFORMER = EstimatorSpec(
    name="KNeighborsTransformer",
    params=dict(n_neighbors=5, algorithm="brute"),
    make_data=_neighbors_data,
    methods=("transform",),
    comparable_params=_connectivity,
    validate=_neighbors_validate,
    grid={"n_neighbors": [1, 3, 5]},
    thread_variants={"distance": {}, "connectivity": {"mode": "connectivity"}},
    sample_weight=False,
    search_scoring=_graph_score,
    sklearn_expected_failures=frozenset({"check_methods_sample_order_invariance"}),
    thread_n_samples=2000,
)

RADIUS_NEIGHBORS_TRANSFORMER = EstimatorSpec(
    name="RadiusNeighborsTransformer",
    params=dict(radius=1.5, algorithm="brute"),
    make_data=_spread(_neighbors_data),
    methods=("transform",),
    comparable_params=lambda X: {},
    validate=_neighbors_validate,
    grid={"radius": [0.5, 1.0, 1.5]},
    thread_variants={"distance": {}, "connectivity": {"mode": "connectivity"}},
    sample_weight=False,
    search_scoring=_graph_score,
    sklearn_expected_failures=frozenset({"check_methods_sample_order_invariance"}),
    thread_n_samples=2000,
)


SPECS = {spec.name: spec for spec in [KMEANS, MINIBATCH_KMEANS, STANDARD_SCALER, PCA_SPEC,
                                      LINEAR_REGRESSION, RIDGE, LOGISTIC_REGRESSION, DBSCAN_SPEC,
                                      NEAREST_NEIGHBORS, K_NEIGHBORS_CLASSIFIER,
                                      K_NEIGHBORS_REGRESSOR, RADIUS_NEIGHBORS_CLASSIFIER,
                                      RADIUS_NEIGHBORS_REGRESSOR, K_NEIGHBORS_TRANSFORMER,
                                      RADIUS_NEIGHBORS_TRANSFORMER]}


def spec_params(specs=None):
    """``pytest.mark.parametrize`` arguments over the specs, with their names as ids."""
    specs = list(SPECS.values()) if specs is None else specs
    return dict(argnames="spec", argvalues=specs, ids=[s.name for s in specs])


def registered_classes(registry=None) -> dict:
    """name -> sklearn_rs class, for every class in the patch registry."""
    registry = _patch._REGISTRY if registry is None else registry
    classes = {}
    for name, entry in registry.items():
        obj: Optional[object] = _resolve(entry.replacement)
        if isinstance(obj, type):
            classes[name] = obj
    return classes
