"""More clusters than distinct samples (scikit-learn issue 28055) and empty clusters that cannot
be relocated: the fit follows scikit-learn's rules (relocation skipped when every sample sits
on its center, such clusters placed at the heaviest cluster) and warns as scikit-learn does."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.cluster import KMeans as SkKMeans
from sklearn.exceptions import ConvergenceWarning

from sklearn_rs import KMeans

DUPLICATES = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0]])


def fit_recording(cls, X, **params):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        km = cls(**params).fit(X)
    return km, [(w.category, str(w.message)) for w in record]


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
@pytest.mark.parametrize("sparse", [False, True])
def test_more_clusters_than_distinct_samples_stops_like_sklearn(algorithm, sparse):
    X = sp.csr_matrix(DUPLICATES) if sparse else DUPLICATES
    params = dict(n_clusters=3, n_init=1, random_state=0, algorithm=algorithm)
    ours, our_warnings = fit_recording(KMeans, X, **params)
    theirs, their_warnings = fit_recording(SkKMeans, X, **params)
    assert ours.n_iter_ == theirs.n_iter_
    assert our_warnings == their_warnings
    assert any(c is ConvergenceWarning for c, _ in our_warnings)
    # Both find the two distinct points; the third center sits on one of them.
    assert len(np.unique(ours.labels_)) == 2
    assert {tuple(c) for c in ours.cluster_centers_} == {(0.0, 0.0), (1.0, 1.0)}
    assert ours.inertia_ == theirs.inertia_ == 0.0


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
def test_unrelocatable_empty_cluster_is_placed_like_sklearn(algorithm):
    # Every sample starts on a center, so relocation is skipped; cluster 1 stays empty and
    # scikit-learn puts it at the heaviest cluster (2) as that cluster stands when cluster 1 is
    # visited: its weighted sum, not yet divided. Sparse input is not centred by scikit-learn,
    # so the arithmetic is the same on both sides.
    X = sp.csr_matrix(np.array([[0.0, 0.0], [5.0, 5.0], [5.0, 5.0], [5.0, 5.0]]))
    init = np.array([[0.0, 0.0], [9.0, 9.0], [5.0, 5.0]])
    params = dict(n_clusters=3, init=init, n_init=1, algorithm=algorithm)
    ours, our_warnings = fit_recording(KMeans, X, **params)
    theirs, their_warnings = fit_recording(SkKMeans, X, **params)
    np.testing.assert_array_equal(ours.cluster_centers_, theirs.cluster_centers_)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    assert ours.n_iter_ == theirs.n_iter_
    assert our_warnings == their_warnings
