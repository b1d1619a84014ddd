"""Checks every estimator in the patch registry passes (specs in estimator_specs.py).

scikit-learn's own estimator checks, results independent of the thread count, pickles that
load in a fresh interpreter, clone / Pipeline / GridSearchCV(n_jobs=2), and the fallback to
scikit-learn's code. A check that applies to every estimator is one more function here,
parametrized with ``**spec_params()``. Bad input and fuzzing: test_common_errors.py.
"""

import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp
from estimator_specs import SPECS, call_method, fit, registered_classes, spec_params
from numpy.testing import assert_allclose
from skrs_utils import assert_same_error
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._test_common import instance_generator as ig
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

import sklearn_rs._core
from sklearn_rs import _patch
from sklearn_rs._base import sklearn_base_class

N_THREADS = 2  # never more on this machine


def test_every_registered_class_has_a_spec():
    classes = registered_classes()
    assert classes, "the patch registry lists no estimator class"
    assert set(classes) == set(SPECS)
    for name, cls in classes.items():
        assert SPECS[name].ours is cls


def fitted_state(est):
    """The fitted attributes (``name_``) of ``est``."""
    return {k: v for k, v in vars(est).items() if k.endswith("_")}


def assert_bitwise_equal(a, b):
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_bitwise_equal(a[k], b[k])
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    elif sp.issparse(a):
        assert_bitwise_equal(a.toarray(), b.toarray())
    else:
        assert a == b or (a != a and b != b)  # equal, or both NaN


def outputs(spec, est, X, y):
    return {m: call_method(est, m, X, y) for m in spec.methods}


def containers(spec):
    kinds = {"dense": lambda X: X, "float32": lambda X: X.astype(np.float32)}
    if spec.sparse:
        kinds["csr"] = lambda X: sp.csr_matrix(np.where(X > 1, X, 0.0))
    return kinds


# --- scikit-learn's estimator checks --------------------------------------------------------

def _check_instances():
    """Ours, built exactly as scikit-learn builds its class for these checks, with its
    per-check parameters; the expected failures are the ones scikit-learn declares."""
    instances, expected = [], {}
    for spec in SPECS.values():
        ig.PER_ESTIMATOR_CHECK_PARAMS.setdefault(
            spec.ours, ig.PER_ESTIMATOR_CHECK_PARAMS.get(spec.theirs, {}))
        expected[spec.ours] = ig._get_expected_failed_checks(spec.theirs())
        for stock in ig._construct_instances(spec.theirs):
            instances.append(spec.ours(**stock.get_params()))
    return instances, expected


_INSTANCES, _EXPECTED_FAILURES = _check_instances()


def _instance_expected_failures(est):
    """scikit-learn's expected failures for its own class built with ``est``'s parameters
    (some depend on the instance, e.g. a precomputed metric)."""
    theirs = sklearn_base_class(type(est))
    return dict(ig._get_expected_failed_checks(theirs(**est.get_params())))


@parametrize_with_checks(_INSTANCES, expected_failed_checks=_instance_expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize(**spec_params())
def test_sklearn_declared_expected_failures_are_known(spec):
    # If scikit-learn changes its list, look again at what ours may skip.
    assert set(_EXPECTED_FAILURES[spec.ours]) == spec.sklearn_expected_failures


# --- threads --------------------------------------------------------------------------------

def _thread_cases():
    for spec in SPECS.values():
        for variant in spec.thread_variants:
            for container in containers(spec):
                yield pytest.param(spec, variant, container,
                                   id=f"{spec.name}-{variant}-{container}")


@pytest.mark.parametrize("spec, variant, container", list(_thread_cases()))
def test_bitwise_identical_whatever_the_thread_count(spec, variant, container):
    # Enough work (samples x features x clusters, for k-means) that it is split into several
    # chunks run on several threads.
    X, y = spec.data(n_samples=spec.thread_n_samples, seed=3)
    X = containers(spec)[container](X)
    weights = [None]
    if spec.sample_weight:
        weights.append(np.random.RandomState(0).uniform(0.5, 2, size=X.shape[0]))
    for sw in weights:
        results = []
        for n_threads in (1, N_THREADS):
            with threadpool_limits(n_threads):
                est = fit(spec.build(spec.ours, **spec.thread_variants[variant]), X, y, sw)
                results.append({"state": fitted_state(est), **outputs(spec, est, X, y)})
        assert_bitwise_equal(*results)


# --- pickling, clone, Pipeline, GridSearchCV ------------------------------------------------

_LOAD_AND_RUN = textwrap.dedent("""
    import pickle, sys
    import numpy as np
    with open(sys.argv[1], "rb") as fh:
        cases = pickle.load(fh)
    results = {}
    for key, (est, X, y, methods) in cases.items():
        cls = type(est)
        out = {"class": f"{cls.__module__}.{cls.__qualname__}"}
        if key == "unfitted":
            est.fit(X, y)
            out["state"] = {k: v for k, v in vars(est).items() if k.endswith("_")}
        for m in methods:
            r = est.score(X, y) if m == "score" else getattr(est, m)(X)
            out[m] = r.toarray() if hasattr(r, "toarray") else r  # as call_method gives it
        results[key] = out
    with open(sys.argv[2], "wb") as fh:
        pickle.dump(results, fh)
""")


@pytest.mark.parametrize(**spec_params())
def test_pickle_loads_in_a_fresh_interpreter(spec, tmp_path):
    """Fitted (dense and sparse) and unfitted estimators pickle, load where sklearn_rs was not
    imported first, and give bitwise the same results there."""
    X, y = spec.data()
    cases, expected = {}, {}
    data = {"dense": X, "csr": sp.csr_matrix(np.where(X > 1, X, 0.0))} if spec.sparse else {
        "dense": X}
    for key, Xc in data.items():
        est = spec.build(spec.ours).fit(Xc, y)
        cases[key] = (est, Xc, y, spec.methods)
        expected[key] = outputs(spec, est, Xc, y)
    cases["unfitted"] = (spec.build(spec.ours), X, y, spec.methods)
    fitted = spec.build(spec.ours).fit(X, y)
    expected["unfitted"] = {"state": fitted_state(fitted), **outputs(spec, fitted, X, y)}
    (tmp_path / "in.pkl").write_bytes(pickle.dumps(cases))
    env = {k: v for k, v in os.environ.items() if k not in (_patch.ENV_PATCH, "PYTHONPATH")}
    proc = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_RUN, tmp_path / "in.pkl", tmp_path / "out.pkl"],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = pickle.loads((tmp_path / "out.pkl").read_bytes())
    replacement = _patch._REGISTRY[spec.name].replacement.replace(":", ".")
    for key, values in results.items():
        assert values.pop("class") == replacement
        assert_bitwise_equal(values, expected[key])


@pytest.mark.parametrize(**spec_params())
def test_clone_and_params(spec):
    est = spec.build(spec.ours)
    assert est.get_params() == spec.build(spec.theirs).get_params()
    X, y = spec.data()
    est.fit(X, y)
    copy = clone(est)
    assert type(copy) is spec.ours
    assert copy.get_params() == est.get_params()
    assert not fitted_state(copy)
    assert_same_error(lambda impl: spec.build(
        spec.theirs if impl == "sklearn" else spec.ours).set_params(bogus=1))


@pytest.mark.parametrize(**spec_params())
def test_pipeline_matches_sklearn(spec):
    X, y = spec.data(seed=1)
    comparable = spec.comparable_params(StandardScaler().fit_transform(X))
    pipes = [make_pipeline(StandardScaler(), spec.build(cls, **comparable)).fit(X, y)
             for cls in (spec.ours, spec.theirs)]
    assert type(pipes[0][-1]) is spec.ours
    for method in spec.methods:
        assert_allclose(call_method(pipes[0], method, X, y), call_method(pipes[1], method, X, y),
                        rtol=spec.rtol, atol=1e-9)


@pytest.mark.parametrize(**spec_params())
def test_grid_search_in_worker_processes_matches_sklearn(spec):
    X, y = spec.data(seed=2)
    comparable = spec.comparable_params(X)
    searches = [GridSearchCV(spec.searched(spec.build(cls, **comparable)), spec.grid, cv=3,
                             scoring=spec.search_scoring, n_jobs=N_THREADS).fit(X, y)
                for cls in (spec.ours, spec.theirs)]
    assert type(spec.searched_estimator(searches[0].best_estimator_)) is spec.ours
    assert searches[0].best_params_ == searches[1].best_params_
    assert_allclose(searches[0].cv_results_["mean_test_score"],
                    searches[1].cv_results_["mean_test_score"], rtol=spec.rtol)


# --- fallback to scikit-learn ---------------------------------------------------------------

@pytest.mark.parametrize(**spec_params())
def test_fallback_runs_sklearn_code_only(spec, monkeypatch, caplog):
    """When the registry's fallback hook gives a reason, fit runs scikit-learn's own code (no
    native call) and gives exactly scikit-learn's result; the reason is logged."""
    entry = _patch._REGISTRY[spec.name]
    monkeypatch.setitem(_patch._REGISTRY, spec.name, _patch._Entry(
        entry.name, entry.replacement, entry.targets, lambda params, X: "stand-in reason"))

    def no_native_call(*args, **kwargs):
        raise AssertionError("a native function ran during a fallback")

    for name in dir(sklearn_rs._core):
        if not name.startswith("_") and callable(getattr(sklearn_rs._core, name)):
            monkeypatch.setattr(sklearn_rs._core, name, no_native_call)
    X, y = spec.data()
    with caplog.at_level("INFO", logger="sklearn_rs"):
        ours = spec.build(spec.ours).fit(X, y)
    theirs = spec.build(spec.theirs).fit(X, y)
    assert type(ours) is spec.ours
    assert f"{spec.name}: falling back to scikit-learn for this call: stand-in reason" in (
        caplog.text)
    assert_bitwise_equal(fitted_state(ours), fitted_state(theirs))
