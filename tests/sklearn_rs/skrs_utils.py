"""Helpers shared by the sklearn_rs tests (data makers, error/warning comparison)."""

import re
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans as SkKMeans

import sklearn_rs
from sklearn_rs import KMeans as RsKMeans

# The two implementations under comparison, by a short name used in test ids.
IMPLS = {"sklearn": SkKMeans, "sklearn_rs": RsKMeans}


def make_blobs_data(n_samples=400, n_features=5, n_centers=6, *, spread=12.0, std=1.0,
                    zero_fraction=0.0, seed=0):
    """Well-separated Gaussian blobs with continuous noise (no two distances tie), optionally
    with a fraction of entries set to exactly zero so a CSR version is really sparse."""
    rng = np.random.RandomState(seed)
    true_centers = rng.uniform(-spread, spread, size=(n_centers, n_features))
    which = rng.randint(n_centers, size=n_samples)
    X = true_centers[which] + std * rng.standard_normal((n_samples, n_features))
    if zero_fraction:
        X[rng.uniform(size=X.shape) < zero_fraction] = 0.0
    return X


def init_from_samples(X, n_clusters, seed=0):
    """An explicit init array: distinct samples, jittered so no center sits on a sample."""
    rng = np.random.RandomState(seed)
    idx = rng.choice(X.shape[0], n_clusters, replace=False)
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    return np.asarray(X[idx], dtype=np.float64) + 0.01 * rng.standard_normal(
        (n_clusters, X.shape[1])
    )


def raised(fn):
    """The exception fn() raises, or None; warnings are silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - comparing whatever is raised
            return e
    return None


def result_or_error(fn):
    """(fn(), None), or (None, the exception) for any exception; warnings and floating-point
    errors silenced."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return fn(), None
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # noqa: BLE001 - every exception is compared
            return None, e


def assert_same_error(make_call, *, match_message=True):
    """make_call(impl) is run with impl = sklearn's module objects and ours; both must raise
    the same exception type with the same message (and sklearn must raise)."""
    e_sk = raised(lambda: make_call("sklearn"))
    e_rs = raised(lambda: make_call("sklearn_rs"))
    assert e_sk is not None, "scikit-learn did not raise: the test case is wrong"
    assert e_rs is not None, f"sklearn_rs did not raise; scikit-learn raised {e_sk!r}"
    assert type(e_rs) is type(e_sk), f"sklearn_rs raised {e_rs!r}, scikit-learn {e_sk!r}"
    if match_message:
        assert str(e_rs) == str(e_sk)


def recorded_warnings(fn):
    """(category, message) of every warning fn() emits, in order."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        fn()
    return [(w.category, str(w.message)) for w in rec]


_FLOAT = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def split_numbers(text):
    """(template, numbers): text with every number replaced by '#', and the numbers."""
    return _FLOAT.sub("#", text), [float(v) for v in _FLOAT.findall(text)]


def module_for(impl):
    """The module-level API (k_means, kmeans_plusplus, KMeans) of one implementation."""
    if impl == "sklearn":
        import sklearn.cluster as m

        return m
    return sklearn_rs




def tree_rows(data, nodes, d):
    """A tree's samples (``kd_tree_build``'s or ``ball_tree_build``'s, laid out leaf by leaf,
    each leaf feature by feature) as rows in tree order."""
    rows = np.full((data.size // d, d), np.nan)
    for start, end, is_leaf in nodes.reshape(-1, 3):
        if is_leaf and end > start:
            rows[start:end] = data[start * d:end * d].reshape(d, end - start).T
    return rows
