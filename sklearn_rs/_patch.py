"""Swap scikit-learn's estimators for sklearn_rs's in place, with no change to user code.

``patch_sklearn()`` rebinds the names listed in ``_REGISTRY`` (for example
``sklearn.cluster.KMeans`` and ``sklearn.cluster._kmeans.KMeans``) to sklearn_rs's objects, so
code that imports them afterwards gets ours; ``unpatch_sklearn()`` puts scikit-learn's originals
back. Objects imported before patching are not touched (Python has already bound them).

The patched objects are sklearn_rs's own classes and functions, so estimators made while patched
pickle as ``sklearn_rs._kmeans.KMeans`` and load in any interpreter where sklearn_rs is installed,
patched or not.

Adding an estimator means adding one ``_register(...)`` call at the bottom of this module.

Fallbacks: an entry may name a ``fallback`` hook ``hook(params, X) -> str | None`` that returns why
sklearn_rs cannot handle a call (``None`` when it can). For a function, the patched object is then
a dispatcher that calls scikit-learn's original for such calls. A class calls
``fallback_reason(name, self.get_params(), X)`` in ``fit`` and runs scikit-learn's code when it
returns a reason. Every fallback is logged on the ``"sklearn_rs"`` logger (at WARNING when the
call asked for ``verbose`` output, INFO otherwise) and listed in the README.
"""

import contextlib
import functools
import importlib
import inspect
import logging
import os
import threading
from dataclasses import dataclass
from typing import Callable, Optional

logger = logging.getLogger("sklearn_rs")

# Environment read by processes started under ``python -m sklearn_rs`` (joblib/loky workers,
# subprocesses): the names to patch ("all" or a comma-separated list), and whether to log.
ENV_PATCH = "SKLEARN_RS_PATCH"
ENV_VERBOSE = "SKLEARN_RS_VERBOSE"
# Directory holding the ``sitecustomize`` that applies ENV_PATCH at interpreter start-up.
BOOTSTRAP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_bootstrap")


@dataclass(frozen=True)
class _Entry:
    """One patchable scikit-learn name.

    replacement: ``"module:attribute"`` of sklearn_rs's object.
    targets: ``"module:attribute"`` places in scikit-learn that are rebound to it.
    fallback: optional ``hook(params, X) -> str | None`` (see the module docstring).
    """

    name: str
    replacement: str
    targets: tuple
    fallback: Optional[Callable] = None


_REGISTRY: dict = {}
_lock = threading.RLock()
# (module, attribute) -> scikit-learn's original object, for every target currently patched.
_originals: dict = {}
# name -> the object installed for it, for every name currently patched.
_installed: dict = {}


def _register(name, replacement, targets, fallback=None):
    _REGISTRY[name] = _Entry(name, replacement, tuple(targets), fallback)


def _resolve(path):
    module_name, _, attr = path.partition(":")
    return importlib.import_module(module_name), attr


def get_patch_names():
    """The names ``patch_sklearn`` accepts, in registration order."""
    return list(_REGISTRY)


def _check_names(names):
    if names is None:
        return list(_REGISTRY)
    if isinstance(names, str):
        names = [names]
    names = list(names)
    unknown = [n for n in names if n not in _REGISTRY]
    if unknown:
        raise ValueError(
            f"Unknown name(s) {', '.join(map(repr, unknown))} for sklearn_rs patching. "
            f"Available names: {', '.join(_REGISTRY)}."
        )
    return list(dict.fromkeys(names))


def has_fallback(name):
    """Whether ``name`` has a fallback hook (else no call of it falls back)."""
    entry = _REGISTRY.get(name)
    return entry is not None and entry.fallback is not None


def fallback_reason(name, params, X=None):
    """Why sklearn_rs falls back to scikit-learn for this call of ``name``, or ``None``.

    ``params`` are the estimator's parameters (or the function's bound arguments). A reason is
    logged on the ``"sklearn_rs"`` logger: at WARNING when ``params`` asks for verbose output,
    at INFO otherwise.
    """
    entry = _REGISTRY.get(name)
    if entry is None or entry.fallback is None:
        return None
    reason = entry.fallback(params, X)
    if reason:
        level = logging.WARNING if params.get("verbose") else logging.INFO
        logger.log(level, "%s: falling back to scikit-learn for this call: %s", name, reason)
    return reason


def _dispatcher(entry, ours, original):
    """A function that runs ``ours`` unless the entry's fallback hook rejects the call."""
    signature = inspect.signature(ours)

    @functools.wraps(ours)
    def dispatch(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return ours(*args, **kwargs)  # let ours raise scikit-learn's error
        bound.apply_defaults()
        params = dict(bound.arguments)
        if fallback_reason(entry.name, params, params.get("X")):
            return original(*args, **kwargs)
        return ours(*args, **kwargs)

    # Importable under this name, so the patched function pickles by reference.
    dispatch.__module__ = __name__
    dispatch.__qualname__ = dispatch.__name__ = f"_dispatch_{entry.name}"
    globals()[dispatch.__qualname__] = dispatch
    return dispatch


def _patch(names):
    """Patch ``names``; return the ones that were not patched before."""
    done = []
    with _lock:
        for name in names:
            if name in _installed:
                continue
            entry = _REGISTRY[name]
            module, attr = _resolve(entry.replacement)
            ours = getattr(module, attr)
            targets = [_resolve(t) for t in entry.targets]
            installed = ours
            if entry.fallback is not None and not isinstance(ours, type):
                original = getattr(*targets[0])
                installed = _dispatcher(entry, ours, original)
            for target_module, target_attr in targets:
                key = (target_module.__name__, target_attr)
                _originals[key] = getattr(target_module, target_attr)
                setattr(target_module, target_attr, installed)
                logger.info("patched %s.%s with sklearn_rs", *key)
            _installed[name] = installed
            done.append(name)
    return done


def _unpatch(names):
    with _lock:
        for name in names:
            installed = _installed.pop(name, None)
            if installed is None:
                continue
            for target in _REGISTRY[name].targets:
                target_module, target_attr = _resolve(target)
                key = (target_module.__name__, target_attr)
                original = _originals.pop(key)
                if getattr(target_module, target_attr) is installed:
                    setattr(target_module, target_attr, original)
                    logger.info("restored scikit-learn's %s.%s", *key)
                else:  # someone rebound it after us: leave their object in place
                    logger.warning(
                        "%s.%s was changed after sklearn_rs patched it; not restoring it", *key
                    )


def patch_sklearn(names=None):
    """Replace scikit-learn's estimators with sklearn_rs's.

    Parameters
    ----------
    names : str, list of str or None
        Which names to patch (see ``get_patch_names()``, e.g. ``["KMeans"]``); all by default.
        Unknown names raise ``ValueError``. Patching twice is harmless.

    Code that imports the patched names afterwards (``from sklearn.cluster import KMeans``)
    gets sklearn_rs's implementation. Names imported before the call are left alone.
    """
    _patch(_check_names(names))


def unpatch_sklearn(names=None):
    """Restore scikit-learn's originals for ``names`` (all patched names by default)."""
    _unpatch(_check_names(names))


def is_patched(name=None):
    """Whether ``name`` is currently patched; without a name, whether any name is."""
    with _lock:
        if name is None:
            return bool(_installed)
        _check_names([name])
        return name in _installed


@contextlib.contextmanager
def patched(names=None):
    """Context manager form of ``patch_sklearn``: patches on entry, and on exit restores
    the names that this block patched (names already patched before it stay patched)."""
    done = _patch(_check_names(names))
    try:
        yield
    finally:
        _unpatch(done)


def enable_verbose_logging():
    """Print the ``"sklearn_rs"`` logger's INFO messages (patching, fallbacks) to stderr."""
    if not any(getattr(h, "_sklearn_rs", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("sklearn_rs: %(message)s"))
        handler._sklearn_rs = True
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def patch_from_environment():
    """Apply ``SKLEARN_RS_PATCH`` (``"all"`` or comma-separated names); used at start-up of
    the processes that ``python -m sklearn_rs`` starts. Returns whether it patched."""
    value = os.environ.get(ENV_PATCH, "").strip()
    if not value:
        return False
    if os.environ.get(ENV_VERBOSE):
        enable_verbose_logging()
    names = None if value.lower() in ("1", "all") else [n.strip() for n in value.split(",")]
    patch_sklearn(names)
    return True


def _export_to_children(names):
    """Make Python processes started from here patch themselves at start-up."""
    os.environ[ENV_PATCH] = "all" if names is None else ",".join(_check_names(names))
    paths = os.environ.get("PYTHONPATH", "")
    parts = [p for p in paths.split(os.pathsep) if p and p != BOOTSTRAP_DIR]
    os.environ["PYTHONPATH"] = os.pathsep.join([BOOTSTRAP_DIR, *parts])


# ---------------------------------------------------------------------------------------------
# The registry: one entry per patchable scikit-learn name.
# ---------------------------------------------------------------------------------------------
_register(
    "KMeans",
    "sklearn_rs._kmeans:KMeans",
    ["sklearn.cluster:KMeans", "sklearn.cluster._kmeans:KMeans"],
)
_register(
    "k_means",
    "sklearn_rs._kmeans:k_means",
    ["sklearn.cluster:k_means", "sklearn.cluster._kmeans:k_means"],
)
_register(
    "kmeans_plusplus",
    "sklearn_rs._kmeans:kmeans_plusplus",
    ["sklearn.cluster:kmeans_plusplus", "sklearn.cluster._kmeans:kmeans_plusplus"],
)
_register(
    "MiniBatchKMeans",
    "sklearn_rs._minibatch:MiniBatchKMeans",
    ["sklearn.cluster:MiniBatchKMeans", "sklearn.cluster._kmeans:MiniBatchKMeans"],
)
# scikit-learn's private minibatch step, which its tests (and code written against it) call.
_register(
    "_mini_batch_step",
    "sklearn_rs._minibatch:_mini_batch_step",
    ["sklearn.cluster._kmeans:_mini_batch_step"],
)


def _scaler_fallback(params, X):
    from sklearn_rs._scaler import scaler_fallback

    return scaler_fallback(params, X)


_register(
    "StandardScaler",
    "sklearn_rs._scaler:StandardScaler",
    ["sklearn.preprocessing:StandardScaler", "sklearn.preprocessing._data:StandardScaler"],
    fallback=_scaler_fallback,
)


def _pca_fallback(params, X):
    from sklearn_rs._pca import pca_fallback

    return pca_fallback(params, X)


_register(
    "PCA",
    "sklearn_rs._pca:PCA",
    ["sklearn.decomposition:PCA", "sklearn.decomposition._pca:PCA"],
    fallback=_pca_fallback,
)


def _linear_regression_fallback(params, X):
    from sklearn_rs._linear import linear_regression_fallback

    return linear_regression_fallback(params, X)


_register(
    "LinearRegression",
    "sklearn_rs._linear:LinearRegression",
    ["sklearn.linear_model:LinearRegression", "sklearn.linear_model._base:LinearRegression"],
    fallback=_linear_regression_fallback,
)


def _ridge_fallback(params, X):
    from sklearn_rs._ridge import ridge_fallback

    return ridge_fallback(params, X)


_register(
    "Ridge",
    "sklearn_rs._ridge:Ridge",
    ["sklearn.linear_model:Ridge", "sklearn.linear_model._ridge:Ridge"],
    fallback=_ridge_fallback,
)


def _logistic_fallback(params, X):
    from sklearn_rs._logistic import logistic_fallback

    return logistic_fallback(params, X)


_register(
    "LogisticRegression",
    "sklearn_rs._logistic:LogisticRegression",
    [
        "sklearn.linear_model:LogisticRegression",
        "sklearn.linear_model._logistic:LogisticRegression",
    ],
    fallback=_logistic_fallback,
)


def _dbscan_fallback(params, X):
    from sklearn_rs._dbscan import dbscan_fallback

    return dbscan_fallback(params, X)


_register(
    "DBSCAN",
    "sklearn_rs._dbscan:DBSCAN",
    ["sklearn.cluster:DBSCAN", "sklearn.cluster._dbscan:DBSCAN"],
    fallback=_dbscan_fallback,
)
_register(
    "dbscan",
    "sklearn_rs._dbscan:dbscan",
    ["sklearn.cluster:dbscan", "sklearn.cluster._dbscan:dbscan"],
)


def _neighbors_fallback(params, X):
    from sklearn_rs._neighbors import neighbors_fallback

    return neighbors_fallback(params, X)


_register(
    "NearestNeighbors",
    "sklearn_rs._neighbors:NearestNeighbors",
    [
        "sklearn.neighbors:NearestNeighbors",
        "sklearn.neighbors._unsupervised:NearestNeighbors",
        # scikit-learn's kneighbors_graph / radius_neighbors_graph build this class
        "sklearn.neighbors._graph:NearestNeighbors",
    ],
    fallback=_neighbors_fallback,
)
_register(
    "KNeighborsClassifier",
    "sklearn_rs._neighbors:KNeighborsClassifier",
    [
        "sklearn.neighbors:KNeighborsClassifier",
        "sklearn.neighbors._classification:KNeighborsClassifier",
    ],
    fallback=_neighbors_fallback,
)
_register(
    "KNeighborsRegressor",
    "sklearn_rs._neighbors:KNeighborsRegressor",
    ["sklearn.neighbors:KNeighborsRegressor", "sklearn.neighbors._regression:KNeighborsRegressor"],
    fallback=_neighbors_fallback,
)
_register(
    "RadiusNeighborsClassifier",
    "sklearn_rs._neighbors:RadiusNeighborsClassifier",
    [
        "sklearn.neighbors:RadiusNeighborsClassifier",
        "sklearn.neighbors._classification:RadiusNeighborsClassifier",
    ],
    fallback=_neighbors_fallback,
)
_register(
    "RadiusNeighborsRegressor",
    "sklearn_rs._neighbors:RadiusNeighborsRegressor",
    [
        "sklearn.neighbors:RadiusNeighborsRegressor",
        "sklearn.neighbors._regression:RadiusNeighborsRegressor",
    ],
    fallback=_neighbors_fallback,
)
_register(
    "KNeighborsTransformer",
    "sklearn_rs._neighbors_graph:KNeighborsTransformer",
    ["sklearn.neighbors:KNeighborsTransformer", "sklearn.neighbors._graph:KNeighborsTransformer"],
    fallback=_neighbors_fallback,
)
_register(
    "RadiusNeighborsTransformer",
    "sklearn_rs._neighbors_graph:RadiusNeighborsTransformer",
    [
        "sklearn.neighbors:RadiusNeighborsTransformer",
        "sklearn.neighbors._graph:RadiusNeighborsTransformer",
    ],
    fallback=_neighbors_fallback,
)
_register(
    "kneighbors_graph",
    "sklearn_rs._neighbors_graph:kneighbors_graph",
    ["sklearn.neighbors:kneighbors_graph", "sklearn.neighbors._graph:kneighbors_graph"],
)
_register(
    "radius_neighbors_graph",
    "sklearn_rs._neighbors_graph:radius_neighbors_graph",
    ["sklearn.neighbors:radius_neighbors_graph", "sklearn.neighbors._graph:radius_neighbors_graph"],
)
