"""scikit-learn's own estimator checks, run on sklearn_rs.KMeans.

The instance is built the way scikit-learn builds its KMeans for these checks
(``INIT_PARAMS``: n_init=2, n_clusters=2, max_iter=5, plus its per-check parameters), and
the only failures allowed are the ones scikit-learn declares for its own KMeans.
"""

from sklearn.cluster import KMeans as SkKMeans
from sklearn.utils._test_common import instance_generator as ig
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_rs import KMeans

# Per-check parameters scikit-learn uses for its KMeans (e.g. n_clusters=1 for
# check_dict_unchanged) apply to the drop-in as well.
ig.PER_ESTIMATOR_CHECK_PARAMS.setdefault(KMeans, ig.PER_ESTIMATOR_CHECK_PARAMS[SkKMeans])

SKLEARN_KMEANS_EXPECTED_FAILURES = ig._get_expected_failed_checks(SkKMeans())


def test_declared_expected_failures_are_the_known_two():
    # Guard: if scikit-learn changes its list, look again at what the drop-in may skip.
    assert set(SKLEARN_KMEANS_EXPECTED_FAILURES) == {
        "check_sample_weight_equivalence_on_dense_data",
        "check_sample_weight_equivalence_on_sparse_data",
    }


def test_instance_is_built_like_sklearns():
    (sk_instance,) = ig._construct_instances(SkKMeans)
    params = sk_instance.get_params()
    assert params["n_init"] == 2 and params["n_clusters"] == 2 and params["max_iter"] == 5
    assert KMeans(**params).get_params() == params


@parametrize_with_checks(
    [KMeans(**ig.INIT_PARAMS[SkKMeans])],
    expected_failed_checks=lambda est: SKLEARN_KMEANS_EXPECTED_FAILURES,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
