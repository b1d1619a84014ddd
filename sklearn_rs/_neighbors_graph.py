"""Neighbour graphs: ``KNeighborsTransformer``, ``RadiusNeighborsTransformer`` and the functions
``kneighbors_graph`` / ``radius_neighbors_graph``, as in scikit-learn's ``neighbors/_graph.py``.

The transformers are scikit-learn's classes on our searches; the functions
are scikit-learn's bodies with our ``NearestNeighbors`` (a fitted estimator passed as ``X`` is
used as it is, ours or not).
"""

import itertools
from numbers import Integral, Real

from sklearn.neighbors import KNeighborsTransformer as _SklearnKNeighborsTransformer
from sklearn.neighbors import RadiusNeighborsTransformer as _SklearnRadiusNeighborsTransformer
from sklearn.neighbors import VALID_METRICS
from sklearn.neighbors import kneighbors_graph as _sklearn_kneighbors_graph
from sklearn.neighbors import radius_neighbors_graph as _sklearn_radius_neighbors_graph
from sklearn.neighbors._base import KNeighborsMixin, RadiusNeighborsMixin
from sklearn.neighbors._graph import _check_params, _query_include_self
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from sklearn_rs._neighbors import KNeighborsSearchMixin, NearestNeighbors, RadiusSearchMixin


class KNeighborsTransformer(KNeighborsSearchMixin, _SklearnKNeighborsTransformer):
    pass


class RadiusNeighborsTransformer(RadiusSearchMixin, _SklearnRadiusNeighborsTransformer):
    pass


def _constraints(estimator_kind, size):
    return {
        "X": ["array-like", "sparse matrix", estimator_kind],
        **size,
        "mode": [StrOptions({"connectivity", "distance"})],
        "metric": [StrOptions(set(itertools.chain(*VALID_METRICS.values()))), callable],
        "p": [Interval(Real, 0, None, closed="right"), None],
        "metric_params": [dict, None],
        "include_self": ["boolean", StrOptions({"auto"})],
        "n_jobs": [Integral, None],
    }


@validate_params(
    _constraints(KNeighborsMixin, {"n_neighbors": [Interval(Integral, 1, None, closed="left")]}),
    prefer_skip_nested_validation=False,  # metric is not validated yet
)
def kneighbors_graph(
    X,
    n_neighbors,
    *,
    mode="connectivity",
    metric="minkowski",
    p=2,
    metric_params=None,
    include_self=False,
    n_jobs=None,
):
    if not isinstance(X, KNeighborsMixin):
        X = NearestNeighbors(
            n_neighbors=n_neighbors,
            metric=metric,
            p=p,
            metric_params=metric_params,
            n_jobs=n_jobs,
        ).fit(X)
    else:
        _check_params(X, metric, p, metric_params)
    query = _query_include_self(X._fit_X, include_self, mode)
    return X.kneighbors_graph(X=query, n_neighbors=n_neighbors, mode=mode)


@validate_params(
    _constraints(RadiusNeighborsMixin, {"radius": [Interval(Real, 0, None, closed="both")]}),
    prefer_skip_nested_validation=False,  # metric is not validated yet
)
def radius_neighbors_graph(
    X,
    radius,
    *,
    mode="connectivity",
    metric="minkowski",
    p=2,
    metric_params=None,
    include_self=False,
    n_jobs=None,
):
    if not isinstance(X, RadiusNeighborsMixin):
        X = NearestNeighbors(
            radius=radius,
            metric=metric,
            p=p,
            metric_params=metric_params,
            n_jobs=n_jobs,
        ).fit(X)
    else:
        _check_params(X, metric, p, metric_params)
    query = _query_include_self(X._fit_X, include_self, mode)
    return X.radius_neighbors_graph(query, radius, mode)


kneighbors_graph.__doc__ = _sklearn_kneighbors_graph.__doc__
radius_neighbors_graph.__doc__ = _sklearn_radius_neighbors_graph.__doc__
