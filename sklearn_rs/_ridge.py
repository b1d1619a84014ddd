"""Ridge regression with Rust numerics, a drop-in for ``sklearn.linear_model.Ridge``.

The estimator subclasses scikit-learn's: parameter validation, input validation, the solver
policy (``auto``, the switch to ``sparse_cg`` for sparse data with an intercept, its errors and
warnings), feature names and ``isinstance`` are scikit-learn's own. The solvers run in Rust
(``sklearn_rs._core.ridge_fit``):

- ``cholesky``: the normal equations from the weighted, centred Gram matrix of one pass over X
  (the dual form ``(X X^T + alpha I)`` when there are more features than samples), solved by
  Cholesky; scipy's "Ill-conditioned matrix" ``LinAlgWarning`` comes from the same condition
  estimate LAPACK's ``pocon`` makes, and a singular system moves to ``svd`` as in scikit-learn.
- ``svd``: ``V diag(s / (s^2 + alpha)) U^T y`` from the SVD of the small system a parallel
  TSQR reduces X to.
- ``lsqr`` and ``sparse_cg``: ports of scipy's LSQR and CG (``n_iter_`` as scipy counts).
- ``sag`` and ``saga``: a port of scikit-learn's ``sag_fast.pyx``, drawing the samples from
  the seed ``make_dataset`` takes from ``random_state`` (the same epochs, ``n_iter_`` and
  ConvergenceWarning).
- ``lbfgs`` (``positive=True``): the exact non-negative minimiser, which scikit-learn's
  L-BFGS-B approaches to ``tol``: NNLS on the TSQR-reduced system augmented with
  ``sqrt(alpha) I`` (dense X), or on the Cholesky factor of the penalised Gram matrix
  (sparse X).

``positive=True`` with ``max_iter`` set (or with ``alpha=0`` on sparse X), and ``cholesky``
on sparse X without an intercept run scikit-learn's code (logged).
"""

import warnings

import numpy as np
import scipy.sparse as sp
from scipy.linalg import LinAlgWarning
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge as _SklearnRidge
from sklearn.linear_model._ridge import _get_valid_accept_sparse, resolve_solver_for_numpy
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, validate_data

from sklearn_rs._linear_common import (
    LinearModelMixin,
    array_api_fallback,
    check_weight_sum,
    defer_finite_check,
    fit_checking_finite,
    native_samples,
    native_targets,
)
from sklearn_rs._threads import _core


def ridge_fallback(params, X):
    """Why a Ridge call runs scikit-learn's code (the patch registry's fallback hook)."""
    reason = array_api_fallback(X)
    if reason:
        return reason
    solver = params.get("solver", "auto")
    if params.get("positive") and params.get("max_iter") is not None:
        return ("positive=True with max_iter: the result is where scikit-learn's L-BFGS-B stops "
                "(the exact non-negative solution is computed only without an iteration cap)")
    if X is not None and sp.issparse(X):
        if params.get("positive") and np.any(np.asarray(params.get("alpha", 1.0)) == 0):
            return ("positive=True with alpha=0 on sparse X: the Gram matrix may be singular; "
                    "scikit-learn's L-BFGS-B solver is used")
        if solver == "cholesky" and not params.get("fit_intercept", True):
            return "solver='cholesky' on sparse X: scikit-learn's sparse Gram solve is used"
    return None


class Ridge(LinearModelMixin, _SklearnRidge):
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        if self._fallback_reason(X):
            return self._run_sklearn("fit", X, y, sample_weight=sample_weight)
        accept_sparse = _get_valid_accept_sparse(sp.issparse(X), self.solver)
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=accept_sparse,
            dtype=[np.float64, np.float32],
            multi_output=True,
            y_numeric=True,
            ensure_all_finite=not defer_finite_check(X),
        )
        solver = self._chosen_solver(X)
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(
                _check_sample_weight(sample_weight, X, dtype=X.dtype)
            )
        if self.fit_intercept:
            check_weight_sum(sample_weight)
        targets = native_targets(y, X.dtype)
        n_targets = targets.shape[1]
        solver = self._checked_solver(solver, sp.issparse(X))
        alpha = np.asarray(self.alpha, dtype=X.dtype).ravel()
        if alpha.shape[0] not in [1, n_targets]:
            raise ValueError(
                "Number of targets and number of penalties do not correspond: %d != %d"
                % (alpha.shape[0], n_targets)
            )
        alphas = [float(a) for a in np.broadcast_to(alpha, (n_targets,))]
        seeds = self._sag_seeds(n_targets) if solver in ("sag", "saga") else None
        fit = fit_checking_finite(self, X, lambda: _core.ridge_fit(
            native_samples(X),
            targets,
            sample_weight,
            bool(self.fit_intercept),
            alphas,
            solver,
            float(self.tol),
            self.max_iter,
            self._rs_n_threads(),
            seeds,
        ))
        if fit["overflow_epoch"] is not None:
            raise ValueError(
                "Floating-point under-/overflow occurred at epoch #%d. Scaling input data "
                "with StandardScaler or MinMaxScaler might help." % fit["overflow_epoch"]
            )
        if solver in ("sag", "saga"):
            max_iter = 1000 if self.max_iter is None else self.max_iter
            for n_iter in fit["n_iter"]:
                if n_iter == max_iter:
                    warnings.warn(
                        "The max_iter was reached which means the coef_ did not converge",
                        ConvergenceWarning,
                    )
        for rcond in fit["ill_conditioned"]:
            warnings.warn(
                f"An ill-conditioned matrix detected: slice 0 has rcond = {rcond}.",
                LinAlgWarning,
                stacklevel=2,
            )
        if fit["singular_dual"]:
            warnings.warn(
                "Singular matrix in solving dual problem. Using "
                "least-squares solution instead."
            )
        coef = fit["coef"]
        self.coef_ = coef.ravel() if n_targets == 1 else coef
        n_iter = fit["n_iter"]
        self.n_iter_ = None if n_iter is None else np.asarray(n_iter, dtype=np.int32)
        self.solver_ = fit["solver"]
        if self.fit_intercept:
            self.intercept_ = fit["intercept"][0] if np.ndim(y) == 1 else fit["intercept"]
        else:
            self.intercept_ = 0.0
        return self

    def _chosen_solver(self, X):
        """``_BaseRidge.fit``'s checks and its choice of solver for sparse data with an
        intercept, with the same errors and warnings."""
        if self.solver == "lbfgs" and not self.positive:
            raise ValueError(
                "'lbfgs' solver can be used only when positive=True. "
                "Please use another solver."
            )
        if self.positive:
            if self.solver not in ["auto", "lbfgs"]:
                raise ValueError(
                    f"solver='{self.solver}' does not support positive fitting. Please"
                    " set the solver to 'auto' or 'lbfgs', or set `positive=False`"
                )
            return self.solver
        if sp.issparse(X) and self.fit_intercept:
            if self.solver not in ["auto", "lbfgs", "lsqr", "sag", "sparse_cg"]:
                raise ValueError(
                    "solver='{}' does not support fitting the intercept "
                    "on sparse data. Please set the solver to 'auto' or "
                    "'lsqr', 'sparse_cg', 'sag', 'lbfgs' "
                    "or set `fit_intercept=False`".format(self.solver)
                )
            if self.solver in ["lsqr", "lbfgs"]:
                return self.solver
            if self.solver == "sag" and self.max_iter is None and self.tol > 1e-4:
                warnings.warn(
                    '"sag" solver requires many iterations to fit '
                    "an intercept with sparse inputs. Either set the "
                    'solver to "auto" or "sparse_cg", or set a low '
                    '"tol" and a high "max_iter" (especially if inputs are '
                    "not standardized)."
                )
                return "sag"
            return "sparse_cg"
        return self.solver

    def _sag_seeds(self, n_targets):
        """The seed ``make_dataset`` draws for each target's ``sag_solver`` call (from a new
        ``RandomState`` each time for an int ``random_state``)."""
        seeds = []
        for _ in range(n_targets):
            rng = check_random_state(self.random_state)
            seeds.append(int(rng.randint(1, np.iinfo(np.int32).max)))
        return seeds

    def _checked_solver(self, solver, is_sparse):
        """``_ridge_regression``'s resolution of ``auto`` and its solver errors."""
        if solver == "auto":
            solver = resolve_solver_for_numpy(self.positive, False, is_sparse)
        if self.positive and solver != "lbfgs":
            raise ValueError(
                "When positive=True, only 'lbfgs' solver can be used. "
                f"Please change solver {solver} to 'lbfgs' "
                "or set positive=False."
            )
        if solver == "lbfgs" and not self.positive:
            raise ValueError(
                "'lbfgs' solver can be used only when positive=True. "
                "Please use another solver."
            )
        if solver == "svd" and is_sparse:
            raise TypeError("SVD solver does not support sparse inputs currently")
        return solver
