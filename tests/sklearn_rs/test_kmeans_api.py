"""The scikit-learn API surface of sklearn_rs.KMeans and its module functions."""

import inspect
import io

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.cluster
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.cluster import KMeans as SkKMeans
from skrs_utils import init_from_samples, make_blobs_data, split_numbers

import sklearn_rs
from sklearn_rs import KMeans, k_means, kmeans_plusplus


def _fitted_pair(X, n_clusters=6, **params):
    init = init_from_samples(X, n_clusters, seed=3)
    sk = SkKMeans(n_clusters=n_clusters, init=init, n_init=1, **params).fit(X)
    rs = KMeans(n_clusters=n_clusters, init=init, n_init=1, **params).fit(X)
    return sk, rs


def test_is_a_sklearn_kmeans():
    assert isinstance(KMeans(), SkKMeans)
    assert issubclass(KMeans, sklearn.cluster.KMeans)
    assert KMeans.__name__ == "KMeans"


def test_default_parameters_are_sklearns():
    assert KMeans().get_params() == SkKMeans().get_params()
    assert inspect.signature(KMeans.__init__) == inspect.signature(SkKMeans.__init__)


@pytest.mark.parametrize("method", ["fit", "predict", "transform", "fit_predict",
                                    "fit_transform", "score"])
def test_method_signatures_are_sklearns(method):
    assert inspect.signature(getattr(KMeans, method)) == inspect.signature(
        getattr(SkKMeans, method)
    )


def test_fitted_attributes():
    X = make_blobs_data(n_samples=200)
    sk, rs = _fitted_pair(X)
    for name in ["cluster_centers_", "labels_", "inertia_", "n_iter_", "n_features_in_",
                 "_n_features_out"]:
        assert hasattr(rs, name), name
        assert type(getattr(rs, name)) is type(getattr(sk, name)), name
    assert rs.n_features_in_ == 5
    assert rs.labels_.shape == (200,)
    assert not hasattr(rs, "feature_names_in_")


def test_predict_transform_score_match_sklearn_on_same_centers():
    X = make_blobs_data(n_samples=300, seed=1)
    X_new = make_blobs_data(n_samples=150, seed=2)
    sw = np.random.RandomState(0).uniform(0.1, 3, size=150)
    sk, rs = _fitted_pair(X)
    # Use exactly sklearn's centers so the comparison is of predict/transform/score alone.
    rs.cluster_centers_ = sk.cluster_centers_.copy()
    assert_array_equal(rs.predict(X_new), sk.predict(X_new))
    assert rs.predict(X_new).dtype == sk.predict(X_new).dtype
    assert_allclose(rs.transform(X_new), sk.transform(X_new), rtol=1e-7, atol=1e-9)
    assert_allclose(rs.score(X_new), sk.score(X_new), rtol=1e-7)
    assert_allclose(rs.score(X_new, sample_weight=sw), sk.score(X_new, sample_weight=sw),
                    rtol=1e-7)
    # sparse input to the fitted estimator
    Xs = sp.csr_matrix(X_new)
    assert_array_equal(rs.predict(Xs), sk.predict(Xs))
    assert_allclose(rs.transform(Xs), sk.transform(Xs), rtol=1e-7, atol=1e-9)
    assert_allclose(rs.score(Xs), sk.score(Xs), rtol=1e-7)


def test_predict_on_float32_model_with_float64_data_and_vice_versa():
    # (scikit-learn 1.9.1 itself raises a Cython buffer dtype error for a float32 model given
    # float64 data and vice versa; the drop-in must at least give the answer of the data in the model's dtype)
    X = make_blobs_data(n_samples=200)
    X32 = X.astype(np.float32)
    sk32, rs32 = _fitted_pair(X32)
    assert_array_equal(rs32.predict(X), sk32.predict(X32))
    assert_allclose(rs32.transform(X), sk32.transform(X32), rtol=1e-5, atol=1e-5)
    sk64, rs64 = _fitted_pair(X)
    X32_as_64 = X32.astype(np.float64)
    assert_array_equal(rs64.predict(X32), sk64.predict(X32_as_64))
    assert_allclose(rs64.transform(X32), sk64.transform(X32_as_64), rtol=1e-5, atol=1e-5)


def test_fit_predict_equals_labels_and_predict():
    X = make_blobs_data(n_samples=250)
    init = init_from_samples(X, 6, seed=3)
    est = KMeans(n_clusters=6, init=init, n_init=1)
    labels = est.fit_predict(X)
    assert_array_equal(labels, est.labels_)
    assert_array_equal(labels, est.predict(X))
    assert_array_equal(labels, SkKMeans(n_clusters=6, init=init, n_init=1).fit_predict(X))


# Containers that scikit-learn's fit_transform accepts; the result must equal fit().transform()
FIT_TRANSFORM_INPUTS = {
    "C": lambda X: X,
    "F": np.asfortranarray,
    "non_contiguous": lambda X: np.hstack([X, X])[:, ::2],
    "list": lambda X: X.tolist(),
    "int64": lambda X: np.round(X * 10).astype(np.int64),
    "float16": lambda X: X.astype(np.float16),
    "float32": lambda X: X.astype(np.float32),
    "float32_F": lambda X: np.asfortranarray(X.astype(np.float32)),
    "csr": sp.csr_matrix,
    "csc": sp.csc_matrix,
    "coo_array": sp.coo_array,
}


@pytest.mark.parametrize("make", list(FIT_TRANSFORM_INPUTS.values()),
                         ids=list(FIT_TRANSFORM_INPUTS))
def test_fit_transform_equals_fit_then_transform(make):
    X = make(make_blobs_data(n_samples=120, n_features=3, n_centers=4, seed=4))
    Xt = KMeans(n_clusters=4, random_state=0, n_init=1).fit_transform(X)
    est = KMeans(n_clusters=4, random_state=0, n_init=1).fit(X)
    assert Xt.shape == (120, 4)
    assert_allclose(Xt, est.transform(X), rtol=1e-5, atol=1e-6)
    # and with sklearn's transform of the same fitted centers
    sk = SkKMeans(n_clusters=4, init=est.cluster_centers_, n_init=1, max_iter=1).fit(X)
    sk.cluster_centers_ = est.cluster_centers_
    assert_allclose(Xt, sk.transform(X), rtol=1e-5, atol=1e-6)


def test_get_feature_names_out():
    X = make_blobs_data(n_samples=100)
    est = KMeans(n_clusters=3, n_init=1, random_state=0).fit(X)
    names = est.get_feature_names_out()
    assert_array_equal(names, ["kmeans0", "kmeans1", "kmeans2"])
    assert_array_equal(names, SkKMeans(n_clusters=3, n_init=1).fit(X).get_feature_names_out())
    assert names.dtype == object


def test_set_output_default_and_invalid_match_sklearn():
    X = make_blobs_data(n_samples=100)
    est = KMeans(n_clusters=3, n_init=1, random_state=0).set_output(transform="default")
    assert isinstance(est.fit_transform(X), np.ndarray)
    with pytest.raises(ValueError) as e_rs:
        KMeans().set_output(transform="bogus").fit(X).transform(X)
    with pytest.raises(ValueError) as e_sk:
        SkKMeans().set_output(transform="bogus").fit(X).transform(X)
    assert str(e_rs.value) == str(e_sk.value)


def test_set_output_pandas():
    pd = pytest.importorskip("pandas")
    X = make_blobs_data(n_samples=100)
    est = KMeans(n_clusters=3, n_init=1, random_state=0).set_output(transform="pandas")
    out = est.fit_transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["kmeans0", "kmeans1", "kmeans2"]
    assert_allclose(out.to_numpy(), est.transform(X).to_numpy())


def test_feature_names_in_with_dataframe():
    pd = pytest.importorskip("pandas")
    X = make_blobs_data(n_samples=100, n_features=3)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    est = KMeans(n_clusters=3, n_init=1, random_state=0).fit(df)
    assert_array_equal(est.feature_names_in_, ["a", "b", "c"])
    est.predict(df)
    # renamed columns: same warning/error as sklearn
    sk = SkKMeans(n_clusters=3, n_init=1, random_state=0).fit(df)
    bad = df.rename(columns={"a": "z"})
    with pytest.raises(ValueError) as e_rs:
        est.predict(bad)
    with pytest.raises(ValueError) as e_sk:
        sk.predict(bad)
    assert str(e_rs.value) == str(e_sk.value)


def test_copy_x_false_leaves_data_usable():
    X = make_blobs_data(n_samples=150)
    X_before = X.copy()
    KMeans(n_clusters=3, n_init=1, random_state=0, copy_x=False).fit(X)
    assert_array_equal(X, X_before)


def test_callable_init():
    X = make_blobs_data(n_samples=200)
    init_arr = init_from_samples(X, 6, seed=3)
    calls = []

    def init(X_, n_clusters, random_state):
        calls.append((X_.shape, n_clusters))
        return init_arr

    rs = KMeans(n_clusters=6, init=init, n_init=2, random_state=0).fit(X)
    sk = SkKMeans(n_clusters=6, init=init_arr, n_init=1).fit(X)
    assert calls == [((200, 5), 6)] * 2
    assert_array_equal(rs.labels_, sk.labels_)
    assert_allclose(rs.cluster_centers_, sk.cluster_centers_, rtol=1e-7, atol=1e-9)


def test_n_init_auto():
    X = make_blobs_data(n_samples=200)
    # with k-means++ 'auto' means one init, so the result equals n_init=1
    a = KMeans(n_clusters=6, random_state=0).fit(X)
    b = KMeans(n_clusters=6, random_state=0, n_init=1).fit(X)
    assert_array_equal(a.labels_, b.labels_)
    assert a.inertia_ == b.inertia_


def test_best_of_n_init_is_the_minimum():
    X = make_blobs_data(n_samples=300, n_centers=10, spread=5.0, seed=5)
    many = KMeans(n_clusters=8, init="random", n_init=8, random_state=0).fit(X)
    rng = np.random.RandomState(0)
    # each run of a multi-init fit is a single-init fit with one of the drawn seeds; the best
    # of several single-init fits can't beat the best of 8 by much
    singles = [KMeans(n_clusters=8, init="random", n_init=1, random_state=s).fit(X).inertia_
               for s in rng.randint(1000, size=8)]
    assert many.inertia_ <= min(singles) * 1.05


# --- module functions -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["k_means", "kmeans_plusplus"])
def test_module_function_signatures(name):
    ours = getattr(sklearn_rs, name)
    theirs = getattr(sklearn.cluster, name)
    assert inspect.signature(ours) == inspect.signature(theirs)


def test_k_means_return_types_and_shapes():
    X = make_blobs_data(n_samples=120)
    out = k_means(X, 3, n_init=1, random_state=0)
    sk_out = sklearn.cluster.k_means(X, 3, n_init=1, random_state=0)
    assert isinstance(out, tuple) and len(out) == len(sk_out) == 3
    centers, labels, inertia = out
    assert centers.shape == (3, 5) and labels.shape == (120,)
    assert [type(v) for v in out] == [type(v) for v in sk_out]
    assert labels.dtype == sk_out[1].dtype
    out4 = k_means(X, 3, n_init=1, random_state=0, return_n_iter=True)
    sk_out4 = sklearn.cluster.k_means(X, 3, n_init=1, random_state=0, return_n_iter=True)
    assert len(out4) == 4
    assert [type(v) for v in out4] == [type(v) for v in sk_out4]
    # same as the estimator with the same parameters
    est = KMeans(3, n_init=1, random_state=0).fit(X)
    assert_array_equal(labels, est.labels_)
    assert inertia == est.inertia_


def test_kmeans_plusplus_return_types_and_x_squared_norms():
    X = make_blobs_data(n_samples=120)
    centers, indices = kmeans_plusplus(X, 4, random_state=0)
    sk_centers, sk_indices = sklearn.cluster.kmeans_plusplus(X, 4, random_state=0)
    assert type(centers) is type(sk_centers) and type(indices) is type(sk_indices)
    assert centers.shape == (4, 5) and indices.shape == (4,)
    # x_squared_norms accepted; with the true norms the result is the same
    c2, i2 = kmeans_plusplus(X, 4, random_state=0, x_squared_norms=(X**2).sum(1))
    assert_array_equal(i2, indices)
    assert_array_equal(c2, centers)
    # n_local_trials=1 is plain (non-greedy) k-means++ and still returns samples
    c3, i3 = kmeans_plusplus(X, 4, random_state=0, n_local_trials=1)
    assert_array_equal(c3, X[i3])


# --- verbose ----------------------------------------------------------------------------

def _verbose_lines(Est, X, init, capsys, **params):
    capsys.readouterr()
    Est(n_clusters=init.shape[0], init=init, n_init=1, verbose=1, **params).fit(X)
    return capsys.readouterr().out.strip().splitlines()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
@pytest.mark.parametrize("tol", [1e-4, 0.0, 10.0], ids=["tol=1e-4", "tol=0", "tol=10"])
def test_verbose_output_same_lines(algorithm, tol, capsys):
    X = make_blobs_data(n_samples=200, seed=6)
    init = init_from_samples(X, 6, seed=3)
    sk_lines = _verbose_lines(SkKMeans, X, init, capsys, algorithm=algorithm, tol=tol)
    rs_lines = _verbose_lines(KMeans, X, init, capsys, algorithm=algorithm, tol=tol)
    assert len(sk_lines) >= 3
    assert len(rs_lines) == len(sk_lines), (rs_lines, sk_lines)
    for rs_line, sk_line in zip(rs_lines, sk_lines):
        rs_tpl, rs_nums = split_numbers(rs_line)
        sk_tpl, sk_nums = split_numbers(sk_line)
        assert rs_tpl == sk_tpl, (rs_line, sk_line)
        assert_allclose(rs_nums, sk_nums, rtol=1e-6, atol=1e-12)


def test_verbose_multiple_inits_prints_each_init(capsys):
    X = make_blobs_data(n_samples=200, seed=6)
    KMeans(n_clusters=3, n_init=3, verbose=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert out.count("Initialization complete") == 3
    assert "Iteration 0, inertia" in out


def test_repr_like_sklearn():
    assert repr(KMeans(n_clusters=3)) == repr(SkKMeans(n_clusters=3))
    buf = io.StringIO()
    print(KMeans(), file=buf)
    assert buf.getvalue().strip() == "KMeans()"
