"""KMeans' own bad parameters, sample weights, initial centers and module-function arguments
get exactly scikit-learn's errors and warnings (bad X for any estimator: test_common_errors.py).

Each case runs the same call with scikit-learn and with sklearn_rs and compares the exception
type and message (and the list of warnings).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from skrs_utils import IMPLS, assert_same_error, make_blobs_data, module_for, recorded_warnings

X_OK = make_blobs_data(n_samples=30, n_features=3, n_centers=3)


def _with(value, i=(0, 0)):
    X = X_OK.copy()
    X[i] = value
    return X


def _sklearn_raises(fn):
    try:
        fn()
    except Exception:  # noqa: BLE001
        return True
    return False


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
def test_n_samples_less_than_n_clusters(algorithm):
    assert_same_error(
        lambda impl: IMPLS[impl](n_clusters=31, n_init=1, algorithm=algorithm).fit(X_OK)
    )


BAD_SAMPLE_WEIGHTS = {
    "too_short": lambda: np.ones(29),
    "too_long": lambda: np.ones(31),
    "2d": lambda: np.ones((30, 1)),
    "nan": lambda: np.r_[np.nan, np.ones(29)],
    "inf": lambda: np.r_[np.inf, np.ones(29)],
    "negative": lambda: np.r_[-1.0, np.ones(29)],
    "strings": lambda: np.array(["a"] * 30),
    "all_zero": lambda: np.zeros(30),
}


@pytest.mark.parametrize("make_sw", list(BAD_SAMPLE_WEIGHTS.values()),
                         ids=list(BAD_SAMPLE_WEIGHTS))
def test_bad_sample_weight_same_outcome(make_sw):
    sw = make_sw()

    def call(impl):
        return IMPLS[impl](n_clusters=3, n_init=1, random_state=0).fit(X_OK, sample_weight=sw)

    if not _sklearn_raises(lambda: call("sklearn")):
        # scikit-learn accepts it (negative weights, all-zero weights): so must we, without
        # crashing, and with valid labels.
        est = call("sklearn_rs")
        assert est.labels_.shape == (30,)
        assert est.labels_.min() >= 0 and est.labels_.max() < 3
        assert est.cluster_centers_.shape == (3, 3)
        return
    assert_same_error(call)


@pytest.mark.parametrize("make_sw", [BAD_SAMPLE_WEIGHTS[k] for k in ["too_short", "2d"]],
                         ids=["too_short", "2d"])
def test_bad_sample_weight_score_same_error(make_sw):
    sw = make_sw()
    fitted = {impl: IMPLS[impl](n_clusters=3, n_init=1, random_state=0).fit(X_OK)
              for impl in IMPLS}
    assert_same_error(lambda impl: fitted[impl].score(X_OK, sample_weight=sw))


BAD_INIT_ARRAYS = {
    "wrong_n_clusters": lambda: X_OK[:4],
    "wrong_n_features": lambda: X_OK[:3, :2],
    "1d": lambda: X_OK[0],
    "nan": lambda: np.r_[X_OK[:2], [[np.nan, 0.0, 0.0]]],
    "inf": lambda: np.r_[X_OK[:2], [[np.inf, 0.0, 0.0]]],
    "strings": lambda: np.array([["a", "b", "c"]] * 3),
}


@pytest.mark.parametrize("make_init", list(BAD_INIT_ARRAYS.values()), ids=list(BAD_INIT_ARRAYS))
def test_bad_init_array_same_error(make_init):
    init = make_init()
    assert_same_error(lambda impl: IMPLS[impl](n_clusters=3, init=init, n_init=1).fit(X_OK))


def test_bad_callable_init_same_error():
    def bad_init(X, n_clusters, random_state):
        return X[: n_clusters - 1]

    assert_same_error(
        lambda impl: IMPLS[impl](n_clusters=3, init=bad_init, n_init=1).fit(X_OK)
    )


BAD_PARAMS = {
    "n_clusters=0": dict(n_clusters=0),
    "n_clusters=-1": dict(n_clusters=-1),
    "n_clusters=2.5": dict(n_clusters=2.5),
    "n_clusters=str": dict(n_clusters="3"),
    "algorithm=foo": dict(algorithm="foo"),
    "algorithm=full": dict(algorithm="full"),
    "algorithm=auto": dict(algorithm="auto"),
    "tol=-1": dict(tol=-1),
    "tol=str": dict(tol="x"),
    "max_iter=0": dict(max_iter=0),
    "max_iter=-3": dict(max_iter=-3),
    "n_init=0": dict(n_init=0),
    "n_init=foo": dict(n_init="foo"),
    "init=foo": dict(init="foo"),
    "init=number": dict(init=3),
    "random_state=str": dict(random_state="abc"),
    "verbose=str": dict(verbose="x"),
    "copy_x=str": dict(copy_x="x"),
}


@pytest.mark.parametrize("params", list(BAD_PARAMS.values()), ids=list(BAD_PARAMS))
def test_invalid_params_same_error(params):
    assert_same_error(lambda impl: IMPLS[impl](**params).fit(X_OK))


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.k_means(X_OK, 0),
        lambda m: m.k_means(X_OK, 3, algorithm="foo"),
        lambda m: m.k_means(X_OK[:, 0], 3),
        lambda m: m.k_means(X_OK, 3, sample_weight=np.ones(3)),
        lambda m: m.k_means(X_OK, 3, return_n_iter="yes"),
        lambda m: m.kmeans_plusplus(X_OK, 0),
        lambda m: m.kmeans_plusplus(X_OK, 31),
        lambda m: m.kmeans_plusplus(_with(np.nan), 3),
        lambda m: m.kmeans_plusplus(X_OK[:, 0], 3),
        lambda m: m.kmeans_plusplus(X_OK, 3, sample_weight=np.ones(4)),
        lambda m: m.kmeans_plusplus(X_OK, 3, x_squared_norms=np.ones(4)),
        lambda m: m.kmeans_plusplus(X_OK, 3, n_local_trials=0),
        lambda m: m.kmeans_plusplus(X_OK, 3, random_state="x"),
        lambda m: m.kmeans_plusplus(np.array([["a", "b"]] * 4), 2),
    ],
    ids=["k_means_n_clusters_0", "k_means_algorithm", "k_means_1d", "k_means_sw",
         "k_means_return_n_iter", "kpp_n_clusters_0", "kpp_too_few_samples", "kpp_nan",
         "kpp_1d", "kpp_sw", "kpp_norms", "kpp_trials", "kpp_random_state", "kpp_strings"],
)
def test_module_functions_same_error(call):
    assert_same_error(lambda impl: call(module_for(impl)))


# --- NaN and infinity in the data of predict, transform and score ----------------------
# X is checked by the Rust pass that reads it (in chunks of rows): a value in any row, on data
# large enough for the blocked kernels, gets scikit-learn's error, and scikit-learn's order of
# errors holds where X has other problems too.

X_BIG = make_blobs_data(n_samples=3000, n_features=7, n_centers=4)
FITTED = {impl: IMPLS[impl](n_clusters=4, init=X_BIG[:4], n_init=1, max_iter=2).fit(X_BIG)
          for impl in IMPLS}
NON_FINITE_METHODS = {
    "predict": lambda m, X: m.predict(X),
    "transform": lambda m, X: m.transform(X),
    "score": lambda m, X: m.score(X),
    "score_bad_weight": lambda m, X: m.score(X, sample_weight=np.ones(3)),
}


@pytest.mark.parametrize("method", list(NON_FINITE_METHODS))
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("row", [0, 2999])
@pytest.mark.parametrize("container", ["f64", "f32", "csr"])
def test_non_finite_data_same_error(method, value, row, container):
    X = X_BIG.copy()
    X[row, 3] = value
    X = {"f64": X, "f32": X.astype(np.float32), "csr": sp.csr_matrix(X)}[container]
    call = NON_FINITE_METHODS[method]
    assert_same_error(lambda impl: call(FITTED[impl], X))


def test_non_finite_data_with_wrong_n_features_reports_non_finite_first():
    X = X_BIG[:, :5].copy()
    X[10, 1] = np.nan
    for call in NON_FINITE_METHODS.values():
        assert_same_error(lambda impl: call(FITTED[impl], X))


def test_assume_finite_skips_the_check_as_scikit_learn():
    import sklearn

    X = X_BIG.copy()
    X[5, 0] = np.nan
    with sklearn.config_context(assume_finite=True):
        for call in NON_FINITE_METHODS.values():
            if call is NON_FINITE_METHODS["score_bad_weight"]:
                continue
            for impl in IMPLS:
                call(FITTED[impl], X)  # neither raises
        labels = {impl: np.delete(FITTED[impl].predict(X), 5) for impl in IMPLS}
    np.testing.assert_array_equal(labels["sklearn_rs"], labels["sklearn"])


# --- warnings ---------------------------------------------------------------------------

def _same_warnings(make_call):
    sk = recorded_warnings(lambda: make_call("sklearn"))
    rs = recorded_warnings(lambda: make_call("sklearn_rs"))
    assert sk, "scikit-learn did not warn: the test case is wrong"
    assert rs == sk


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
@pytest.mark.parametrize("sparse", [False, True])
def test_duplicate_points_convergence_warning(algorithm, sparse):
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]), 10, axis=0)
    X = sp.csr_matrix(X) if sparse else X
    _same_warnings(lambda impl: IMPLS[impl](n_clusters=5, n_init=1, random_state=0,
                                            algorithm=algorithm).fit(X))


def test_explicit_init_with_n_init_warns():
    init = X_OK[:3]
    _same_warnings(lambda impl: IMPLS[impl](n_clusters=3, init=init, n_init=4).fit(X_OK))


def test_explicit_init_with_n_init_auto_does_not_warn():
    init = X_OK[:3]
    assert recorded_warnings(
        lambda: IMPLS["sklearn_rs"](n_clusters=3, init=init, n_init="auto").fit(X_OK)
    ) == []


def test_elkan_single_cluster_warns():
    _same_warnings(lambda impl: IMPLS[impl](n_clusters=1, algorithm="elkan", n_init=1).fit(X_OK))


def test_k_means_function_warnings():
    init = X_OK[:3]
    _same_warnings(lambda impl: module_for(impl).k_means(X_OK, 3, init=init, n_init=3))


def test_no_spurious_warnings_on_good_data():
    assert recorded_warnings(
        lambda: IMPLS["sklearn_rs"](n_clusters=3, random_state=0).fit(X_OK).predict(X_OK)
    ) == []


def test_warning_points_at_caller():
    """The duplicate-points warning is attributed to user code, like scikit-learn's."""
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0]]), 10, axis=0)
    with pytest.warns(Warning) as rec:
        IMPLS["sklearn_rs"](n_clusters=3, n_init=1, random_state=0).fit(X)
    with pytest.warns(Warning) as rec_sk:
        IMPLS["sklearn"](n_clusters=3, n_init=1, random_state=0).fit(X)
    assert [w.filename for w in rec] == [w.filename for w in rec_sk]
