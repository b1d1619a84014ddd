"""MiniBatchKMeans gives scikit-learn's results.

``fit`` draws the same minibatches, initialisations, validation subsample and reassignments
from the same random_state, so the same random_state gives scikit-learn's labels, ``n_steps_``
and counts, centers and inertia to rounding, and leaves the RandomState where scikit-learn
leaves it. ``partial_fit`` driven with the same batches follows scikit-learn step by step.
"""

import re

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.cluster import MiniBatchKMeans as SkMiniBatchKMeans
from sklearn.datasets import load_digits
from skrs_utils import make_blobs_data

from sklearn_rs import MiniBatchKMeans

TOLS = {np.float64: 1e-7, np.float32: 1e-4}


def _data(sparse, dtype, n_samples=600, seed=0):
    X = make_blobs_data(n_samples=n_samples, zero_fraction=0.3 if sparse else 0.0, seed=seed)
    X = X + 2.0 * np.random.RandomState(seed + 100).standard_normal(X.shape)
    X = X.astype(dtype)
    return sp.csr_matrix(X) if sparse else X


def _weights(n, seed=1):
    return np.random.RandomState(seed).uniform(0.5, 2.0, size=n)


def _assert_same_state(a, b):
    sa, sb = a.get_state(), b.get_state()
    assert_array_equal(sa[1], sb[1])
    assert sa[2:] == sb[2:]


def _assert_same_model(sk, rs, X, dtype, inertia_atol=0.0):
    tol = TOLS[dtype]
    scale = abs(X).max()
    assert rs.n_steps_ == sk.n_steps_
    assert getattr(rs, "n_iter_", None) == getattr(sk, "n_iter_", None)
    assert rs.cluster_centers_.dtype == sk.cluster_centers_.dtype
    assert_allclose(rs.cluster_centers_, sk.cluster_centers_, rtol=tol, atol=tol * scale)
    assert_allclose(rs._counts, sk._counts, rtol=tol)
    if hasattr(sk, "labels_"):
        assert_array_equal(rs.labels_, sk.labels_)
    assert_allclose(rs.inertia_, sk.inertia_, rtol=10 * tol, atol=inertia_atol)


@pytest.mark.parametrize("n_init", [1, 3])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("init", ["k-means++", "random", "array"])
def test_fit_equals_sklearn_and_leaves_the_same_state(init, sparse, dtype, weighted, n_init):
    X = _data(sparse, dtype)
    sw = _weights(X.shape[0]) if weighted else None
    if init == "array":
        init = X[:5].toarray() if sparse else X[:5]
        n_init = 1
    params = dict(n_clusters=5, init=init, n_init=n_init, batch_size=64)
    sk_rs, rs_rs = np.random.RandomState(3), np.random.RandomState(3)
    sk = SkMiniBatchKMeans(random_state=sk_rs, **params).fit(X, sample_weight=sw)
    rs = MiniBatchKMeans(random_state=rs_rs, **params).fit(X, sample_weight=sw)
    _assert_same_model(sk, rs, X, dtype)
    _assert_same_state(rs_rs, sk_rs)


@pytest.mark.parametrize(
    "params",
    [
        dict(tol=1e-3, max_no_improvement=None),
        dict(max_no_improvement=None, max_iter=3),
        dict(max_no_improvement=2),
        dict(compute_labels=False),
        dict(n_clusters=30, reassignment_ratio=0.2, batch_size=32, max_iter=5),
        dict(reassignment_ratio=0.0),
        dict(init_size=20, n_init=4, init="random"),
        dict(batch_size=1000),
    ],
    ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()),
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_parameters_follow_sklearn(params, dtype):
    X = _data(False, dtype)
    params = {"n_clusters": 5, "batch_size": 50, "random_state": 0, **params}
    sk = SkMiniBatchKMeans(**params).fit(X)
    rs = MiniBatchKMeans(**params).fit(X)
    _assert_same_model(sk, rs, X, dtype)
    for attr in ("_ewa_inertia", "_ewa_inertia_min"):
        assert_allclose(getattr(rs, attr), getattr(sk, attr), rtol=10 * TOLS[dtype])
    assert rs._no_improvement == sk._no_improvement
    assert rs._n_since_last_reassign == sk._n_since_last_reassign


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_digits_equal_sklearn(seed):
    X = load_digits().data
    params = dict(n_clusters=10, batch_size=256, random_state=seed, n_init=3)
    sk = SkMiniBatchKMeans(**params).fit(X)
    rs = MiniBatchKMeans(**params).fit(X)
    _assert_same_model(sk, rs, X, np.float64)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_partial_fit_with_the_same_batches(sparse, dtype, weighted):
    # Many clusters and small batches, so that reassignments happen along the way.
    X = _data(sparse, dtype)
    rng = np.random.RandomState(5)
    params = dict(n_clusters=12, random_state=0, n_init=1, reassignment_ratio=0.1)
    sk, rs = SkMiniBatchKMeans(**params), MiniBatchKMeans(**params)
    for _ in range(25):
        idx = rng.randint(0, X.shape[0], 40)
        sw = rng.uniform(0.1, 3.0, size=40) if weighted else None
        sk.partial_fit(X[idx], sample_weight=sw)
        rs.partial_fit(X[idx], sample_weight=sw)
        _assert_same_model(sk, rs, X[idx], dtype)
    _assert_same_state(rs._random_state, sk._random_state)


def test_partial_fit_after_fit_continues_like_sklearn():
    X = _data(False, np.float64)
    params = dict(n_clusters=6, batch_size=30, random_state=0, max_iter=2)
    sk = SkMiniBatchKMeans(**params).fit(X)
    rs = MiniBatchKMeans(**params).fit(X)
    for start in range(0, 300, 60):
        sk.partial_fit(X[start:start + 60])
        rs.partial_fit(X[start:start + 60])
    _assert_same_model(sk, rs, X[240:300], np.float64)


def test_methods_equal_sklearn():
    X = _data(False, np.float64)
    init = X[:4]
    sk = SkMiniBatchKMeans(4, init=init, n_init=1, random_state=0).fit(X)
    rs = MiniBatchKMeans(4, init=init, n_init=1, random_state=0).fit(X)
    assert_array_equal(rs.predict(X), sk.predict(X))
    assert_allclose(rs.transform(X), sk.transform(X), rtol=1e-9)
    assert_allclose(rs.score(X), sk.score(X), rtol=1e-9)
    assert_array_equal(rs.fit_predict(X), sk.fit_predict(X))
    assert_allclose(rs.fit_transform(X), sk.fit_transform(X), rtol=1e-9)


def _without_numbers(text):
    return re.sub(r"[-+0-9.e]+(?=[,\s]|$)", "#", text)


def test_verbose_output_matches(capsys):
    X = _data(False, np.float64)
    params = dict(n_clusters=12, batch_size=20, random_state=0, verbose=1, n_init=2,
                  reassignment_ratio=0.2, max_iter=2, max_no_improvement=3)
    SkMiniBatchKMeans(**params).fit(X)
    theirs = capsys.readouterr().out
    MiniBatchKMeans(**params).fit(X)
    ours = capsys.readouterr().out
    assert "Reassigning" in theirs and "Converged" in theirs
    assert _without_numbers(ours) == _without_numbers(theirs)


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.r_[-1.0, np.ones(99)], "probabilities are not non-negative"),
        (np.r_[-1.0, 1.0, np.zeros(98)], "probabilities contain NaN"),
    ],
)
def test_weight_errors_of_the_minibatch_draws(weights, message):
    X = _data(False, np.float64, n_samples=100)
    params = dict(n_clusters=3, init=X[:3], n_init=1, random_state=0)
    for cls in (SkMiniBatchKMeans, MiniBatchKMeans):
        with pytest.raises(ValueError, match=message):
            cls(**params).fit(X, sample_weight=weights)


def test_reassigning_every_cluster_raises_numpys_error():
    # reassignment_ratio above 1 marks every cluster; scikit-learn then takes the minimum of an
    # empty selection.
    X = _data(False, np.float64, n_samples=100)
    for cls in (SkMiniBatchKMeans, MiniBatchKMeans):
        with pytest.raises(ValueError, match="zero-size array to reduction operation minimum"):
            cls(3, reassignment_ratio=5.0, random_state=0, batch_size=50).fit(X)
        with pytest.raises(ValueError, match="zero-size array to reduction operation minimum"):
            cls(3, reassignment_ratio=5.0, random_state=0).partial_fit(X)


def test_init_size_warning_matches():
    X = _data(False, np.float64, n_samples=100)
    for cls in (SkMiniBatchKMeans, MiniBatchKMeans):
        with pytest.warns(RuntimeWarning, match="init_size=2 should be larger than n_clusters=3"):
            cls(3, init_size=2, random_state=0).fit(X)


# Fewer samples than batch_size: each minibatch draws the few samples again and again, the
# reassignment moves centers onto samples other centers already sit on (to rounding), and which
# of the coinciding centers a sample joins is decided by the rounding of scikit-learn's
# distances and by NumPy's argsort order of tied counts.
@pytest.mark.parametrize("layout", ["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_fewer_samples_than_a_batch_equal_sklearn(dtype, layout):
    n_compared = 0
    for seed in range(12):
        rng = np.random.RandomState(seed)
        for n_samples in range(1, 17):
            n_features = 1 + seed % 4
            X = (rng.standard_normal((n_samples, n_features)) * 3 + rng.standard_normal(
                n_features) * 5).astype(dtype)
            if layout == "csr":
                X[np.abs(X) < 1.5] = 0
                X = sp.csr_matrix(X)
            n_clusters = min(n_samples, 1 + (seed + n_samples) % 4)
            init = X[rng.choice(n_samples, n_clusters, replace=False)]
            init = init.toarray() if layout == "csr" else init
            for max_iter in (1, 3, 10):
                params = dict(n_clusters=n_clusters, init=init, n_init=1, batch_size=16,
                              max_iter=max_iter, random_state=seed)
                sk = SkMiniBatchKMeans(**params).fit(X)
                rs = MiniBatchKMeans(**params).fit(X)
                # An inertia of 0 (every sample on a center) is summed to rounding.
                _assert_same_model(sk, rs, X, dtype, inertia_atol=TOLS[dtype] * abs(X).max() ** 2)
                n_compared += 1
    assert n_compared == 12 * 16 * 3


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_fewer_samples_than_a_batch_with_random_inits_equal_sklearn(init):
    for seed in range(20):
        X = np.random.RandomState(seed).standard_normal((3 + seed % 6, 3))
        params = dict(n_clusters=3, init=init, n_init=1, batch_size=16, random_state=seed)
        _assert_same_model(SkMiniBatchKMeans(**params).fit(X), MiniBatchKMeans(**params).fit(X),
                           X, np.float64)
