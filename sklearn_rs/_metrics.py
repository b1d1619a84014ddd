"""scikit-learn's ``(metric, p, metric_params)`` as the metric Rust computes, or why it cannot.

Shared by every estimator that measures distances between samples (nearest neighbours,
DBSCAN). :func:`resolve_metric` returns a :class:`MetricSpec`, which the native functions take
as their ``metric`` argument (``kernels::metric::Metric`` on the Rust side), or a string: the
reason to fall back to scikit-learn (for the patch registry's hooks). It raises scikit-learn's
``DistanceMetric`` errors for parameters no metric accepts.

Metric names themselves are validated by the estimators' own parameter validation
(``_check_algorithm_metric``) before this runs; a name Rust does not compute is a fallback
reason here, never an error.
"""

from typing import NamedTuple, Optional

import numpy as np
from sklearn.utils import check_array

#: Canonical names of the metrics computed in Rust, with scikit-learn's aliases of each.
RUST_METRICS = {
    "euclidean": ("euclidean", "l2"),
    "sqeuclidean": ("sqeuclidean",),
    "manhattan": ("manhattan", "cityblock", "l1"),
    "chebyshev": ("chebyshev", "infinity"),
    "minkowski": ("minkowski", "p"),
    "cosine": ("cosine",),
    "haversine": ("haversine",),
}
_CANONICAL = {alias: name for name, aliases in RUST_METRICS.items() for alias in aliases}
#: Metrics scikit-learn's neighbour searches accept for CSR input (``VALID_METRICS_SPARSE``).
SPARSE_METRICS = frozenset({"euclidean", "manhattan", "cosine"})


class MetricSpec(NamedTuple):
    """A metric computed in Rust: the ``(name, p, w)`` tuple native functions take.

    name: a key of :data:`RUST_METRICS` or ``"precomputed"`` (distances given as the input,
    handled by the caller, not by ``kernels::metric``). p: the minkowski order (``None`` for
    other metrics). w: the minkowski weights as a float64 1-D array, or ``None``.
    Minkowski with ``p`` 1, 2 or infinity and no weights is resolved to manhattan, euclidean
    or chebyshev, as scikit-learn's ``DistanceMetric.get_metric`` does.
    """

    name: str
    p: Optional[float] = None
    w: Optional[np.ndarray] = None

    def rdist_to_dist(self, rdist):
        """Distances from reduced distances (scikit-learn's ``DistanceMetric.rdist_to_dist``)."""
        if self.name == "euclidean":
            return np.sqrt(rdist)
        if self.name == "minkowski":
            return rdist ** (1.0 / self.p)
        if self.name == "haversine":
            return 2 * np.arcsin(np.sqrt(rdist))
        return rdist

    def dist_to_rdist(self, dist):
        """Reduced distances from distances (scikit-learn's ``DistanceMetric.dist_to_rdist``)."""
        if self.name == "euclidean":
            return dist**2
        if self.name == "minkowski":
            return dist**self.p
        if self.name == "haversine":
            tmp = np.sin(0.5 * dist)
            return tmp * tmp
        return dist


def effective_metric(metric, p=None, metric_params=None):
    """``(effective_metric_, effective_metric_params_)`` as scikit-learn's ``NeighborsBase._fit``
    computes them: ``p`` from ``metric_params`` wins over the ``p`` parameter, and minkowski
    with ``p`` 1, 2 or infinity and no weights becomes manhattan, euclidean or chebyshev."""
    params = {} if metric_params is None else dict(metric_params)
    if metric != "minkowski":
        return metric, params
    p = params.pop("p", p)
    p = 2 if p is None else p
    w = params.pop("w", None)
    if w is None and p == 1:
        return "manhattan", params
    if w is None and p == 2:
        return "euclidean", params
    if w is None and p == np.inf:
        return "chebyshev", params
    params["p"] = p
    params["w"] = w
    return "minkowski", params


def _minkowski(p, w):
    """The spec of minkowski(p, w), with ``MinkowskiDistance``'s checks."""
    if p is None:
        p = 2
    if p <= 0:
        raise ValueError("p must be greater than 0")
    if w is not None:
        w = check_array(w, ensure_2d=False, dtype=np.float64, input_name="w")
        if (w < 0).any():
            raise ValueError("w cannot contain negative weights")
        w = np.ascontiguousarray(w.ravel())
    if w is None:
        if p == 1:
            return MetricSpec("manhattan")
        if p == 2:
            return MetricSpec("euclidean")
        if np.isinf(p):
            return MetricSpec("chebyshev")
    elif np.isinf(p):
        raise ValueError("MinkowskiDistance requires finite p. For p=inf, use ChebyshevDistance.")
    return MetricSpec("minkowski", float(p), w)


def check_n_features(spec, n_features):
    """scikit-learn's ``DistanceMetric._validate_data`` errors for rows of ``n_features``."""
    if spec.name == "minkowski" and spec.w is not None and spec.w.shape[0] != n_features:
        raise ValueError(
            "MinkowskiDistance: the size of w must match "
            f"the number of features ({n_features}). "
            f"Currently len(w)={spec.w.shape[0]}."
        )
    if spec.name == "haversine" and n_features != 2:
        raise ValueError("Haversine distance only valid in 2 dimensions")


def resolve_metric(metric, p=None, metric_params=None, *, n_features=None, sparse=False):
    """The :class:`MetricSpec` Rust computes for scikit-learn's ``metric``, ``p`` and
    ``metric_params`` (as a neighbours estimator or DBSCAN holds them), or the reason (a string)
    to run scikit-learn's code instead.

    ``p`` is the estimator's ``p`` parameter (``None`` means 2); a ``"p"`` key of
    ``metric_params`` takes precedence, as in scikit-learn. With ``n_features``, checks the
    weights' length and haversine's two columns. ``sparse`` asks for CSR input, which Rust
    computes for the metrics scikit-learn accepts there.
    """
    if callable(metric):
        return "metric is a Python callable (called per pair of rows, not computed in Rust)"
    if not isinstance(metric, str):
        return f"metric {metric!r} is a DistanceMetric object, not computed in Rust"
    params = {} if metric_params is None else dict(metric_params)
    if metric == "precomputed":
        if params:
            return f"metric_params {sorted(params)} with metric='precomputed'"
        return MetricSpec("precomputed")
    name = _CANONICAL.get(metric)
    if name is None:
        return f"metric {metric!r} is not computed in Rust"
    if name == "minkowski":
        # scikit-learn passes the estimator's p only to "minkowski"; "p" reads metric_params.
        order = params.pop("p", p if metric == "minkowski" else None)
        spec = _minkowski(order, params.pop("w", None))
    else:
        spec = MetricSpec(name)
    if params:
        return f"metric_params {sorted(params)} are not used by the Rust {name!r} metric"
    if sparse and spec.name not in SPARSE_METRICS:
        return f"metric {spec.name!r} on sparse input is not computed in Rust"
    if n_features is not None:
        check_n_features(spec, n_features)
    return spec
