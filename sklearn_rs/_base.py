"""What every Rust-backed estimator shares.

An estimator is declared as ``class Ours(FamilyMixin, sklearn's class)`` where ``FamilyMixin``
(for example ``KMeansMixin``) derives from :class:`RustEstimatorMixin`. scikit-learn's class
keeps parameter validation, fitted-attribute checks, ``set_output``, feature names and
``isinstance``; the mixins replace its numerical methods with calls into ``sklearn_rs._core``.

This module holds the parts that do not depend on the estimator: the samples view handed to
Rust, the thread count of one call, and the fallback to scikit-learn's own code through the
patch registry.
"""

import numpy as np
import scipy.sparse as sp

from sklearn_rs import _patch
from sklearn_rs._threads import effective_n_threads


def samples_view(X):
    """The native-side view of validated samples: the C-contiguous array itself (no copy), or
    a CSR matrix as ``(data, indices, indptr, n_samples, n_features)`` with int32 indices,
    int64 offsets and no duplicate entries."""
    if sp.issparse(X):
        X = X.tocsr()
        if not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
        return (
            np.ascontiguousarray(X.data),
            np.ascontiguousarray(X.indices, dtype=np.int32),
            np.ascontiguousarray(X.indptr, dtype=np.int64),
            X.shape[0],
            X.shape[1],
        )
    return X


def sklearn_base_class(cls):
    """The scikit-learn class that ``cls`` replaces: the first class of its MRO defined in
    scikit-learn, or ``None``."""
    return next((c for c in cls.__mro__ if c.__module__.split(".")[0] == "sklearn"), None)


class RustEstimatorMixin:
    """Base of every sklearn_rs estimator mixin.

    A concrete estimator without a docstring gets its scikit-learn class's one.
    """

    #: Name of the estimator in the patch registry; the class name when ``None``.
    _patch_name = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        base = sklearn_base_class(cls)
        if base is not None and cls.__dict__.get("__doc__") is None:
            cls.__doc__ = base.__doc__

    @staticmethod
    def _samples(X):
        return samples_view(X)

    @staticmethod
    def _rs_n_threads():
        """Threads to request for one native call (the native side caps it by threadpoolctl's
        limit). Read at every call, so an estimator needs no fit to have it."""
        return effective_n_threads()

    def _fallback_reason(self, X=None):
        """Why this call runs scikit-learn's code instead of ours (logged), or ``None``."""
        name = self._patch_name or type(self).__name__
        if not _patch.has_fallback(name):
            # get_params costs tens of microseconds: more than a small call's work.
            return None
        return _patch.fallback_reason(name, self.get_params(), X)

    def _run_sklearn(self, method, *args, **kwargs):
        """Run scikit-learn's own ``method`` on this estimator's state, so that none of our
        overrides take part, and keep the state it leaves (fitted attributes of a fit)."""
        stock = object.__new__(sklearn_base_class(type(self)))
        stock.__dict__.update(self.__dict__)
        result = getattr(stock, method)(*args, **kwargs)
        self.__dict__.update(stock.__dict__)
        return self if result is stock else result
