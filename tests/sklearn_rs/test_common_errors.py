"""Bad input gets scikit-learn's errors, for every estimator in the patch registry.

A shared list of bad inputs (NaN/inf, wrong feature count, empty, 1-D, complex, strings, ...)
is given to ``fit`` and the fit-and-predict methods, and, after a fit, to every method the spec
lists; the exception type and message must be scikit-learn's. Hypothesis then fuzzes dtypes,
layouts, shapes and values: either both raise the same exception type, or ours succeeds with
outputs shaped like scikit-learn's. Nothing may panic into Python ("internal error").
"""


import numpy as np
from numpy.testing import assert_allclose
import pytest
import scipy.sparse as sp
from estimator_specs import SPECS, call_method
from fuzz_inputs import ANY_DTYPES, matrices
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skrs_utils import assert_same_error, raised, result_or_error

N_SAMPLES, N_FEATURES = 30, 3


def _spec_data(spec):
    X, y = spec.data(n_samples=N_SAMPLES)
    assert X.shape == (N_SAMPLES, N_FEATURES)
    return X, y


def _with(X, value):
    X = X.copy()
    X[0, 0] = value
    return X


def _int64_indexed_csr(X):
    X = sp.csr_matrix(X)
    X.indices = X.indices.astype(np.int64)
    X.indptr = X.indptr.astype(np.int64)
    return X


_STRINGS = [["a", "b", "c"], ["d", "e", "f"], ["g", "h", "i"], ["j", "k", "l"]]

# Each maker turns the spec's valid (30, 3) training data into an input for fit.
BAD_FIT_INPUTS = {
    "nan": lambda X: _with(X, np.nan),
    "inf": lambda X: _with(X, np.inf),
    "-inf": lambda X: _with(X, -np.inf),
    "nan_float32": lambda X: _with(X, np.nan).astype(np.float32),
    "nan_csr": lambda X: sp.csr_matrix(_with(X, np.nan)),
    "inf_csr_array": lambda X: sp.csr_array(_with(X, np.inf)),
    "1d": lambda X: X[:, 0],
    "0d": lambda X: np.float64(3.0),
    "3d": lambda X: X.reshape(N_SAMPLES, N_FEATURES, 1),
    "empty_rows": lambda X: np.empty((0, N_FEATURES)),
    "empty_cols": lambda X: np.empty((N_SAMPLES, 0)),
    "empty_list": lambda X: [],
    "one_row": lambda X: X[:1],
    "two_rows": lambda X: X[:2],
    "object_strings": lambda X: np.array(_STRINGS, dtype=object),
    "str_dtype": lambda X: np.array(_STRINGS),
    "object_numbers_with_none": lambda X: np.array([[1.0, None, 2.0]] * 5, dtype=object),
    "complex": lambda X: X.astype(np.complex128),
    "int64_indexed_csr": _int64_indexed_csr,
    "ragged_list": lambda X: [[1.0, 2.0, 3.0], [3.0]],
}

# Each maker turns valid data into an input for the methods of a fitted estimator.
BAD_PREDICT_INPUTS = {
    "fewer_features": lambda X: X[:, :2],
    "more_features": lambda X: np.hstack([X, X]),
    "nan": lambda X: _with(X, np.nan),
    "inf": lambda X: _with(X, np.inf),
    "1d": lambda X: X[0],
    "empty": lambda X: np.empty((0, N_FEATURES)),
    "strings": lambda X: np.array(_STRINGS),
    "complex": lambda X: X.astype(np.complex128),
    "sparse_fewer_features": lambda X: sp.csr_matrix(X[:, :2]),
}


def _fit_methods(spec):
    return ["fit"] + [f"fit_{m}" for m in spec.methods if hasattr(spec.ours, f"fit_{m}")]


def _impl(spec, impl):
    return spec.theirs if impl == "sklearn" else spec.ours


def _cases(methods_of, bad_inputs):
    """(spec, method, bad input name) for every spec, method and bad input."""
    return [
        pytest.param(spec, method, name, id=f"{spec.name}-{method}-{name}")
        for spec in SPECS.values()
        for method in methods_of(spec)
        for name in bad_inputs
    ]


@pytest.mark.parametrize("spec, method, bad", _cases(_fit_methods, BAD_FIT_INPUTS))
def test_fit_bad_input_same_error(spec, method, bad):
    X, y = _spec_data(spec)
    X_bad = BAD_FIT_INPUTS[bad](X)

    def call(impl):
        return getattr(spec.build(_impl(spec, impl)), method)(X_bad, y)

    if raised(lambda: call("sklearn")) is None:
        # scikit-learn accepts it (e.g. int64-indexed CSR): so must we.
        assert raised(lambda: call("sklearn_rs")) is None
        return
    assert_same_error(call)


@pytest.mark.parametrize(
    "spec, method, bad", _cases(lambda spec: spec.methods, BAD_PREDICT_INPUTS)
)
def test_fitted_methods_bad_input_same_error(spec, method, bad):
    X, y = _spec_data(spec)
    X_bad = BAD_PREDICT_INPUTS[bad](X)
    fitted = {impl: spec.build(_impl(spec, impl)).fit(X, y) for impl in ("sklearn", "sklearn_rs")}
    sk, sk_err = result_or_error(lambda: call_method(fitted["sklearn"], method, X_bad, y))
    if sk_err is None:
        # scikit-learn accepts it (e.g. NaN for a transformer that keeps NaN): so must we.
        rs, rs_err = result_or_error(lambda: call_method(fitted["sklearn_rs"], method, X_bad, y))
        assert rs_err is None, f"sklearn_rs raised {rs_err!r}; scikit-learn accepted the input"
        assert_allclose(rs, sk, rtol=spec.rtol, atol=1e-9)
        return
    assert_same_error(lambda impl: call_method(fitted[impl], method, X_bad, y))


@pytest.mark.parametrize("spec, method", [
    pytest.param(spec, method, id=f"{spec.name}-{method}")
    for spec in SPECS.values() for method in spec.methods
    if not method.startswith("fit")])  # fit_predict fits: it needs no fitted state
def test_unfitted_same_error(spec, method):
    X, y = _spec_data(spec)
    assert_same_error(lambda impl: call_method(spec.build(_impl(spec, impl)), method, X, y))


# --- fuzzing --------------------------------------------------------------------------------

LAYOUTS = {
    "C": lambda X: X,
    "F": np.asfortranarray,
    "strided": lambda X: np.repeat(X, 2, axis=1)[:, ::2],
    "csr": sp.csr_matrix,
    "csr_array": sp.csr_array,
    "csc": sp.csc_matrix,
    "coo": sp.coo_matrix,
}
SPARSE_DTYPES = (np.float32, np.float64, np.int32, np.int64)


@st.composite
def inputs(draw):
    shape = (draw(st.integers(0, 14)), draw(st.integers(0, 4)))
    dtype = draw(st.sampled_from(ANY_DTYPES))
    X = draw(matrices(shape, dtype))
    layouts = [k for k in LAYOUTS if not k.startswith("c") or dtype in SPARSE_DTYPES]
    return LAYOUTS[draw(st.sampled_from(layouts))](X)


def _fit_and_call(spec, est, X):
    y = None
    if spec.make_target is not None:
        y = spec.make_target(np.shape(X)[0] if np.ndim(X) else 1, 0)
    est.fit(X, y)
    return {m: call_method(est, m, X, y) for m in spec.methods}


@pytest.mark.parametrize("spec", list(SPECS.values()), ids=list(SPECS))
@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(X=inputs())
def test_fuzz_inputs_match_sklearn_outcome(spec, X):
    sk, sk_err = result_or_error(lambda: _fit_and_call(spec, spec.build(spec.theirs), X))
    rs, rs_err = result_or_error(lambda: _fit_and_call(spec, spec.build(spec.ours), X))
    if rs_err is not None:
        assert "internal error" not in str(rs_err), repr(rs_err)
        assert not isinstance(rs_err, (RuntimeError, SystemError, AttributeError)), repr(rs_err)
    if sk_err is not None:
        if rs_err is None and result_or_error(lambda: spec.validate(spec.build(spec.theirs), X))[1] is None:
            return  # scikit-learn failed in its numerics, after validation; ours may succeed
        assert rs_err is not None, f"scikit-learn raised {sk_err!r}; sklearn_rs did not"
        assert type(rs_err) is type(sk_err), f"sklearn_rs: {rs_err!r}; scikit-learn: {sk_err!r}"
        return
    assert rs_err is None, f"scikit-learn succeeded; sklearn_rs raised {rs_err!r}"
    for method, theirs in sk.items():
        ours = rs[method]
        assert np.shape(ours) == np.shape(theirs), method
        assert np.asarray(ours).dtype == np.asarray(theirs).dtype, method
        if np.isfinite(theirs).all():
            assert np.isfinite(ours).all(), (method, ours, theirs)
