"""Logistic regression in Rust, a drop-in for ``sklearn.linear_model.LogisticRegression``.

The estimator subclasses scikit-learn's ``LogisticRegression``: parameter validation, the
resolution of ``penalty`` / ``l1_ratio`` / ``C`` as 1.9 has it (with its FutureWarnings), input
validation, class labels, ``class_weight`` and ``sample_weight`` handling, error messages and
``isinstance`` stay scikit-learn's own. The fit runs in Rust (``sklearn_rs._core.logistic_*``):
scikit-learn's objective (``LinearModelLoss``: sample-weighted mean of the half binomial or
multinomial loss plus ``||W||^2 / (2 C sum(sample_weight))``) minimised by a port of scipy's
L-BFGS-B driver with the settings scikit-learn passes (``gtol=tol``, ``ftol=64 eps``,
``maxls=50``, ``maxiter=max_iter``), one fused pass over ``X`` per evaluation. The decision
function and the probabilities are computed in Rust too.

Solvers. The L2-penalised and unpenalised problems are strictly convex (the multinomial one
up to a constant per feature, which L-BFGS from the symmetric start never adds), so every
solver name reaches the same optimum; they differ in how it is reached:
- ``lbfgs``: scikit-learn's own algorithm; ``n_iter_`` and ``ConvergenceWarning`` as scipy's.
- ``newton-cg``, ``newton-cholesky``, ``sag``, ``saga`` (L2 or no penalty): the same objective
  (sag/saga scale it by ``n_samples`` instead of the weight sum, which has the same
  minimiser), solved by the L-BFGS driver; ``n_iter_`` counts its iterations, and when it stops
  at ``max_iter`` the solver's own ConvergenceWarning is given.
- ``liblinear`` (L2, primal or dual): liblinear's problem, whose intercept is the weight of a
  synthetic feature of value ``intercept_scaling`` and is penalised like the others, solved by
  the L-BFGS driver; ``coef_`` is float64 as liblinear's.
float32 data is computed in float64 (scikit-learn evaluates a float32 fit's objective in float32
arithmetic): float32 fits agree to float32 tolerances, and may stop an iteration apart.
``penalty="elasticnet"`` with ``l1_ratio=0`` is saga's L2 problem and is computed here too.
What falls back to scikit-learn (logged on the ``"sklearn_rs"`` logger): L1 and elastic-net
penalties with ``l1_ratio > 0`` (liblinear's coordinate descent, saga), array API inputs, and
fits with callbacks. A model fitted that way still predicts in Rust.
"""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as _SklearnLogisticRegression
from sklearn.linear_model._logistic import _LOGISTIC_SOLVER_CONVERGENCE_MSG, _check_solver
from sklearn.utils import compute_class_weight
from sklearn.utils._array_api import get_namespace
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _assert_all_finite,
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from sklearn_rs import _patch
from sklearn_rs._base import RustEstimatorMixin, samples_view
from sklearn_rs._threads import _core

#: ``params`` key marking a prediction call for the fallback hook (a fitted model predicts in
#: Rust whatever its penalty).
_PREDICTING = "__sklearn_rs_predicting__"


def _resolved_penalty(params):
    """The penalty scikit-learn 1.9's ``fit`` derives from ``penalty``, ``l1_ratio`` and ``C``
    (without its warnings)."""
    penalty, l1_ratio, C = params.get("penalty"), params.get("l1_ratio"), params.get("C")
    if penalty is None:
        return None
    if penalty != "deprecated":
        return penalty
    if l1_ratio == 0 or l1_ratio is None:
        resolved = "l2"
    elif l1_ratio == 1:
        resolved = "l1"
    else:
        resolved = "elasticnet"
    return None if C == np.inf else resolved


def logistic_fallback(params, X):
    """Why a LogisticRegression call runs scikit-learn's code (the patch registry's hook)."""
    if X is not None and get_namespace(X)[1]:
        return "array API inputs (array_api_dispatch=True) are computed by scikit-learn"
    if params.get(_PREDICTING):
        return None
    try:
        penalty = _resolved_penalty(params)
    except Exception:  # invalid parameters: scikit-learn's validation reports them
        return None
    if penalty == "l1" or (penalty == "elasticnet" and params.get("l1_ratio") != 0):
        return (
            f"penalty {penalty!r} (l1_ratio={params.get('l1_ratio')!r}) is not computed in "
            "Rust: scikit-learn's liblinear / saga solver is used"
        )
    return None


def _ftol(solver):
    """L-BFGS-B's relative reduction tolerance: scikit-learn's ``64 eps`` for ``lbfgs``; the
    other solver names stop on the gradient tolerance ``tol`` alone (their own criteria do not
    stop on a stalled objective), so a tight ``tol`` reaches the optimum as theirs does."""
    return 64 * np.finfo(float).eps if solver == "lbfgs" else 0.0


def _convergence_warning(solver, status, message, n_iter, max_iter, loss):
    """The ConvergenceWarning scikit-learn's solver of this name gives when it stops early."""
    if solver == "lbfgs":
        msg = (
            f"lbfgs failed to converge after {n_iter} iteration(s) (status={status}):\n"
            f"{message}\n"
        )
        if n_iter == max_iter:
            msg += (
                "\nIncrease the number of iterations to improve the convergence "
                f"(max_iter={max_iter})."
            )
        msg += (
            "\nYou might also want to scale the data as shown in:\n"
            "    https://scikit-learn.org/stable/modules/preprocessing.html"
        )
        msg += "\n" + _LOGISTIC_SOLVER_CONVERGENCE_MSG
        warnings.warn(msg, ConvergenceWarning, stacklevel=3)
    elif n_iter < max_iter:
        return  # the other solvers warn only at their iteration limit
    elif solver == "liblinear":
        warnings.warn(
            "Liblinear failed to converge, increase the number of iterations.",
            ConvergenceWarning, stacklevel=3,
        )
    elif solver in ("sag", "saga"):
        warnings.warn(
            "The max_iter was reached which means the coef_ did not converge",
            ConvergenceWarning, stacklevel=3,
        )
    elif solver == "newton-cg":
        warnings.warn(
            f"newton-cg failed to converge at loss = {loss}. Increase the number of "
            "iterations.",
            ConvergenceWarning, stacklevel=3,
        )
    else:
        warnings.warn(
            f"Newton solver did not converge after {n_iter} iterations.",
            ConvergenceWarning, stacklevel=3,
        )


class LogisticRegression(RustEstimatorMixin, _SklearnLogisticRegression):
    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        if self._fallback_reason(X) or self._callbacks_fallback():
            return self._run_sklearn("fit", X, y, sample_weight=sample_weight)
        penalty, C, solver = self._check_penalty()
        if penalty == "elasticnet" and self.l1_ratio == 0:
            penalty = "l2"  # saga's elastic-net penalty with l1_ratio=0 is the L2 penalty
        if self.n_jobs is not None:
            warnings.warn(
                "'n_jobs' has no effect since 1.8 and will be removed in 1.10. "
                f"You provided 'n_jobs={self.n_jobs}', please leave it unspecified.",
                category=FutureWarning,
            )
        # X's finiteness is checked by the first evaluation in Rust (scikit-learn's check is a
        # pass of its own); scikit-learn's error is raised from _check_finite when it fails.
        validation = dict(
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            order="C",
            accept_large_sparse=solver not in ["liblinear", "sag", "saga"],
        )
        try:
            X, y = validate_data(self, X, y, ensure_all_finite=False, **validation)
        except ValueError:
            # scikit-learn's validation reports NaN before inconsistent lengths: its error.
            validate_data(self, X, y, **validation)
            raise
        check_classification_targets(y)
        self.classes_, labels = np.unique(y, return_inverse=True)
        labels = labels.astype(np.int32).reshape(-1)
        try:
            return self._fit_validated(X, y, labels, sample_weight, penalty, C, solver)
        except ValueError:
            # scikit-learn reports NaN or infinity before any other problem of the call.
            self._check_finite(X)
            raise

    def _check_finite(self, X):
        _assert_all_finite(X.data if sp.issparse(X) else X, input_name="X",
                           estimator_name=type(self).__name__)

    def _fit_validated(self, X, y, labels, sample_weight, penalty, C, solver):
        n_classes = len(self.classes_)
        if solver == "liblinear":
            return self._fit_liblinear(X, y, labels, sample_weight, n_classes)
        if n_classes < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes"
                " in the data, but the data contains only one"
                " class: %r" % self.classes_[0]
            )
        if sample_weight is not None or self.class_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, copy=True)
        if self.class_weight is not None:
            class_weight = compute_class_weight(
                self.class_weight, classes=self.classes_, y=y, sample_weight=sample_weight
            )
            sample_weight *= class_weight.astype(X.dtype)[labels]
        sw_sum = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
        l2 = 0.0 if C == np.inf else 1.0 / (C * sw_sum)
        params0 = self._initial_params(X, n_classes)
        if self.max_iter == 0 and solver != "lbfgs":
            # scipy's driver always takes a first step; the other solvers stop at the start.
            return self._set_start(X, params0, n_classes, solver)
        fit = _core.logistic_fit(
            self._samples(X),
            labels,
            None if sample_weight is None else np.ascontiguousarray(sample_weight, np.float64),
            n_classes,
            bool(self.fit_intercept),
            1.0,
            False,
            float(l2),
            params0,
            int(self.max_iter),
            float(self.tol),
            _ftol(solver),
            self._rs_n_threads(),
        )
        n_iter = min(int(fit["n_iter"]), self.max_iter)
        if fit["status"] != 0:
            _convergence_warning(
                solver, fit["status"], fit["message"], n_iter, self.max_iter, fit["loss"]
            )
        self.n_iter_ = np.asarray([n_iter], dtype=np.int32)
        self.coef_ = fit["coef"].astype(X.dtype, copy=False)
        self.intercept_ = fit["intercept"].astype(X.dtype, copy=False)
        return self

    def _set_start(self, X, params0, n_classes, solver):
        self._check_finite(X)  # no evaluation runs to check it
        rows = 1 if n_classes == 2 else n_classes
        d = X.shape[1]
        self.coef_ = params0[: rows * d].reshape(rows, d).astype(X.dtype)
        intercept = params0[rows * d :] if self.fit_intercept else np.zeros(rows)
        self.intercept_ = intercept.astype(X.dtype)
        self.n_iter_ = np.zeros(1, dtype=np.int32)
        _convergence_warning(solver, 1, "", 0, 0, np.nan)
        return self

    def _callbacks_fallback(self):
        """Fits with callbacks run scikit-learn's code, which calls them (logged)."""
        if not getattr(self, "_skl_callbacks", None):
            return None
        reason = "callbacks are called by scikit-learn's solver"
        _patch.logger.info(
            "%s: falling back to scikit-learn for this call: %s", type(self).__name__, reason
        )
        return reason

    def _check_penalty(self):
        """scikit-learn 1.9's resolution of ``penalty`` / ``l1_ratio`` / ``C`` and its solver
        check, with its warnings in its order; returns ``(penalty, C, solver)`` as its solvers
        receive them."""
        if self.penalty == "deprecated":
            if self.l1_ratio is None:
                warnings.warn(
                    "'l1_ratio=None' was deprecated in version 1.8 and will trigger an error "
                    "in 1.10. Use 0<=l1_ratio<=1 instead.",
                    FutureWarning,
                )
            penalty = _resolved_penalty(self.get_params())
        else:
            penalty = self.penalty
            warnings.warn(
                "'penalty' was deprecated in version 1.8 and will be removed in"
                " 1.10. To avoid this warning, leave 'penalty' set to its default"
                " value and use 'l1_ratio' or 'C' instead."
                " Use l1_ratio=0 instead of penalty='l2',"
                " l1_ratio=1 instead of penalty='l1',"
                " l1_ratio set to a float between 0 and 1 instead of"
                " penalty='elasticnet', and C=np.inf instead of penalty=None.",
                FutureWarning,
            )
        solver = _check_solver(self.solver, penalty, self.dual)
        if penalty != "elasticnet" and (self.l1_ratio is not None and 0 < self.l1_ratio < 1):
            warnings.warn(
                "l1_ratio parameter is only used when penalty is "
                "'elasticnet'. Got (penalty={})".format(penalty)
            )
        if (self.penalty == "l2" and self.l1_ratio != 0) or (
            self.penalty == "l1" and self.l1_ratio != 1
        ):
            warnings.warn(
                f"Inconsistent values: penalty={self.penalty} with "
                f"l1_ratio={self.l1_ratio}. penalty is deprecated. Please use "
                f"l1_ratio only."
            )
        if self.penalty is None:
            if self.C != 1.0:
                warnings.warn("Setting penalty=None will ignore the C and l1_ratio parameters")
            return "l2", np.inf, solver
        return penalty, self.C, solver

    def _initial_params(self, X, n_classes):
        """scikit-learn's starting point: zeros, or the previous fit's coefficients with
        ``warm_start`` (rounded to X's dtype as scikit-learn's ``w0``); laid out as the kernel
        reads it, ``[coef (rows, d) row-major, intercepts]``."""
        n_features = X.shape[1]
        rows = 1 if n_classes == 2 else n_classes
        width = n_features + int(self.fit_intercept)
        coef = getattr(self, "coef_", None) if self.warm_start else None
        if coef is None:
            return np.zeros(rows * width)
        coef = np.asarray(coef)
        if self.fit_intercept:
            coef = np.concatenate([coef, np.asarray(self.intercept_)[:, None]], axis=1)
        if n_classes == 2:
            if coef.ndim == 1 and coef.shape[0] == width:
                w = coef
            elif coef.ndim == 2 and coef.shape[0] == 1 and coef.shape[1] == width:
                w = coef[0]
            else:
                raise ValueError(
                    f"Initialization coef is of shape {coef.shape}, expected shape "
                    f"{(width,)} or (1, {width})"
                )
            w = w[None, :]
        else:
            if not (coef.ndim == 2 and coef.shape[0] == n_classes and coef.shape[1] == width):
                raise ValueError(
                    f"Initialization coef is of shape {coef.shape}, expected shape "
                    f"{(n_classes, width)}"
                )
            w = coef
        w = w.astype(X.dtype).astype(np.float64)
        parts = [w[:, :n_features].ravel()]
        if self.fit_intercept:
            parts.append(w[:, n_features])
        return np.ascontiguousarray(np.concatenate(parts))

    def _fit_liblinear(self, X, y, labels, sample_weight, n_classes):
        """liblinear's L2 problem (intercept as a penalised synthetic feature) in Rust, with
        ``_fit_liblinear``'s checks, weights and attribute types."""
        if n_classes != 2:
            raise ValueError(
                "The 'liblinear' solver does not support multiclass classification"
                " (n_classes >= 3). Either use another solver or wrap the "
                "estimator in a OneVsRestClassifier to keep applying a "
                "one-versus-rest scheme."
            )
        if (X.data if sp.issparse(X) else X).max(initial=-np.inf) > 1e30:
            raise ValueError(
                "Using the 'liblinear' solver while X contains a maximum "
                "value > 1e30 results in a frozen fit. Please choose another "
                "solver or rescale the input X."
            )
        class_weight = compute_class_weight(
            self.class_weight, classes=self.classes_, y=y, sample_weight=sample_weight
        )
        if self.fit_intercept and self.intercept_scaling <= 0:
            raise ValueError(
                "Intercept scaling is %r but needs to be greater "
                "than 0. To disable fitting an intercept,"
                " set fit_intercept=False." % self.intercept_scaling
            )
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        weights = np.ascontiguousarray(sample_weight * class_weight[labels], dtype=np.float64)
        l2 = 1.0 / (self.C * float(np.sum(weights)))
        scaling = float(self.intercept_scaling) if self.fit_intercept else 1.0
        if self.max_iter == 0:
            self._check_finite(X)  # no evaluation runs to check it
            self.coef_ = np.zeros((1, X.shape[1]))
            self.intercept_ = np.zeros(1) if self.fit_intercept else 0.0
            self.n_iter_ = np.zeros(1, dtype=np.int32)
            _convergence_warning("liblinear", 1, "", 0, 0, np.nan)
            return self
        fit = _core.logistic_fit(
            self._samples(X),
            labels,
            weights,
            2,
            bool(self.fit_intercept),
            scaling,
            True,
            float(l2),
            np.zeros(X.shape[1] + int(self.fit_intercept)),
            int(self.max_iter),
            float(self.tol),
            _ftol("liblinear"),
            self._rs_n_threads(),
        )
        n_iter = min(int(fit["n_iter"]), self.max_iter)
        if fit["status"] != 0:
            _convergence_warning(
                "liblinear", fit["status"], fit["message"], n_iter, self.max_iter, fit["loss"]
            )
        self.n_iter_ = np.asarray([n_iter], dtype=np.int32)
        self.coef_ = fit["coef"]
        self.intercept_ = fit["intercept"] if self.fit_intercept else 0.0
        return self

    # ------------------------------------------------------------------ fitted model
    def _predict_fallback_reason(self, X):
        params = {"verbose": self.verbose, _PREDICTING: True}
        return _patch.fallback_reason(self._patch_name or type(self).__name__, params, X)

    def _scores(self, X, proba):
        """Decision values (or probabilities) of validated ``X`` in scikit-learn's dtype."""
        # sparsify() leaves coef_ as a sparse matrix.
        coef = self.coef_.toarray() if sp.issparse(self.coef_) else np.asarray(self.coef_)
        k = coef.shape[0] if coef.ndim == 2 else 1
        out_dtype = np.result_type(X.dtype, coef.dtype)
        compute_dtype = np.float32 if out_dtype == np.float32 else np.float64
        if sp.issparse(X):
            X = X.tocsr().astype(compute_dtype, copy=False)
        else:
            X = np.ascontiguousarray(X, dtype=compute_dtype)
        intercept = np.broadcast_to(np.asarray(self.intercept_, dtype=np.float64), (k,))
        function = _core.logistic_predict_proba if proba else _core.logistic_decision_function
        out = function(
            samples_view(X),
            np.ascontiguousarray(coef, dtype=np.float64).ravel(),
            np.ascontiguousarray(intercept),
            self._rs_n_threads(),
        )
        return out.astype(out_dtype, copy=False)

    def _validated_scores(self, X, proba):
        """``validate_data`` of scikit-learn's prediction methods, with the finiteness of X
        checked on the result (a NaN or infinity in a row makes that row's values non-finite)
        instead of by a pass of its own; scikit-learn's errors, in its order."""
        check_is_fitted(self)
        try:
            X = validate_data(self, X, accept_sparse="csr", reset=False, ensure_all_finite=False)
        except ValueError:
            validate_data(self, X, accept_sparse="csr", reset=False)
            raise
        scores = self._scores(X, proba)
        if not np.isfinite(scores).all():
            self._check_finite(X)
        return scores

    def decision_function(self, X):
        if self._predict_fallback_reason(X):
            return self._run_sklearn("decision_function", X)
        scores = self._validated_scores(X, proba=False)
        return scores.reshape(-1) if scores.shape[1] == 1 else scores

    def predict_proba(self, X):
        if self._predict_fallback_reason(X):
            return self._run_sklearn("predict_proba", X)
        return self._validated_scores(X, proba=True)
