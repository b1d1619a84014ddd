"""What every benchmark shares: settings, the peers, data files, and the benchmark mixins.

A benchmark file holds only its data and its estimator (or op) factories; the timed methods
come from the mixins here, in the manner of scikit-learn's ``asv_benchmarks``:

* scikit-learn estimators: a subclass of :class:`EstimatorBenchmark` per estimator, combined
  with :class:`Estimator` (``time_fit``, ``peakmem_fit``), :class:`Predictor`
  (``time_predict``) and :class:`Transformer` (``time_transform``). Peers:
  :data:`SKLEARN_PEERS`.
* torch ops: a subclass of :class:`OpBenchmark`, which builds each implementation's callables
  (ours, torch eager, and torch eager under ``torch.compile``). Peers: :data:`TORCH_PEERS`.

What the timed methods measure: a user's loop over the same inputs. ``setup`` runs once per
process and parameter set (:class:`SetUpOnce`): asv_runner 0.3 re-runs ``setup`` before every
timed call of a class that has one and times one call per sample, so without this each sample
timed the first call on freshly rebuilt inputs (its output faulted in from new pages, torch's
threads asleep, ``torch.compile`` graphs rebuilt) instead of a call in a running program.
Timed methods therefore do not modify the state ``setup`` built (one that means to, as a stream
of ``partial_fit`` calls moves a model on, says so in its docstring).

Smoke mode (``BENCH_TINY=1``, :data:`TINY`): every benchmark keeps its parameters (the cases
asv knows, under their real names) but builds tiny data for them, through :func:`case_size` in
the functions that make each case's data; ``tests/test_benchmarks.py`` runs every benchmark
method once that way, for every implementation. Tiny data goes through the same code paths as
the real case (the same solver, no fallback that the real size would not take). The sizes are
read in module-level helpers, never in ``setup``, ``setup_cache`` or a timed method: asv versions a
benchmark by those methods' code, and a change there would hide its recorded history.
``scripts/bench.sh`` refuses to run in smoke mode.

The last parameter of every benchmark is ``impl``, the implementation (``benchmarks/report.py``
reads it). An implementation that is not installed is skipped (``NotImplementedError`` in
``setup``). This module imports torch at import time only for ``BENCH_PREIMPORT=ops``.
"""

import functools
import importlib
import itertools
import os

import numpy as np

#: Threads given to every implementation (scikit-learn's OpenMP/BLAS pools, sklearn_rs's rayon
#: pool through threadpoolctl, torch.set_num_threads). The reference machine has 2 cores.
N_THREADS = int(os.environ.get("BENCH_NUM_THREADS", "2"))

#: Smoke mode: tiny data for every case (see the module docstring). Never set for a measurement.
TINY = os.environ.get("BENCH_TINY", "0") == "1"

#: The libraries imported with this module for ``BENCH_PREIMPORT=<group>``. asv (run with
#: ``--launch-method forkserver``, as ``scripts/bench.sh`` does) imports the suite once and runs
#: each parameter set in a fork of that process, so what is imported here is not imported again
#: by each of the hundreds of benchmark processes (torch and its compiler take ~4 s).
#: ``scripts/bench.sh`` runs the estimator and the op benchmarks as two groups: torch is never
#: in an estimator's process, whose peak memory would then include torch's.
PREIMPORTS = {
    "estimators": ["sklearn.cluster", "sklearn.decomposition", "sklearn.linear_model",
                   "sklearn.neighbors", "sklearn.preprocessing"],
    "ops": ["torch", "torch._dynamo", "torch._inductor.compile_fx"],
}
for _library in PREIMPORTS.get(os.environ.get("BENCH_PREIMPORT", ""), []):
    importlib.import_module(_library)

#: Fixed seed: every run on every commit benchmarks exactly the same data.
SEED = 20240607

#: sklearn_rs and the libraries it is compared with: scikit-learn, and scikit-learn-intelex
#: (``requirements/bench.txt``; the fastest peer on x86 for several estimators).
SKLEARN_PEERS = ["sklearn_rs", "sklearn", "sklearnex"]

#: torch_rs and what it is compared with: torch eager, and torch eager under torch.compile.
TORCH_PEERS = ["torch_rs", "torch", "torch_compile"]


def case_size(full, tiny):
    """A size of a case's data (a number or a tuple): ``full``, or ``tiny`` in smoke mode."""
    return tiny if TINY else full


def limit_threads():
    """Limit scikit-learn's and sklearn_rs's thread pools to N_THREADS for this process."""
    from threadpoolctl import threadpool_limits

    # Not used as a context manager: the limit stays in force for the rest of the benchmark process.
    threadpool_limits(limits=N_THREADS)


def save_array(name, array):
    """Write ``array`` to ``<cwd>/<name>.npy`` (asv's setup_cache directory); return its path."""
    path = os.path.abspath(f"{name}.npy")
    np.save(path, array)
    return path


def load_array(path):
    """Load an array written by ``save_array`` fully into memory (no memory map while timing)."""
    return np.ascontiguousarray(np.load(path))


def sklearn_class(impl, module, name):
    """Class ``name`` of scikit-learn's ``sklearn.<module>`` as implemented by ``impl``;
    ``NotImplementedError`` (asv: skipped) when that implementation is not available."""
    if impl == "sklearn_rs":
        import sklearn_rs

        return getattr(sklearn_rs, name)
    if impl == "sklearn":
        return getattr(importlib.import_module(f"sklearn.{module}"), name)
    if impl == "sklearnex":
        try:
            return getattr(importlib.import_module(f"sklearnex.{module}"), name)
        except (ImportError, AttributeError) as exc:
            raise NotImplementedError(f"scikit-learn-intelex has no {module}.{name}") from exc
    raise ValueError(impl)


def import_torch(impl):
    """Import torch (and torch_rs for impl='torch_rs'); NotImplementedError (asv: skipped) if
    either is missing."""
    if impl not in TORCH_PEERS:
        raise ValueError(impl)
    try:
        import torch
    except ImportError as exc:
        raise NotImplementedError("torch is not installed") from exc
    if impl == "torch_rs":
        try:
            import torch_rs  # noqa: F401  (registers torch.ops.rs.*)
        except ImportError as exc:
            raise NotImplementedError(f"torch_rs is not importable: {exc}") from exc
    return torch


class SetUpOnce:
    """Base of every benchmark class: its ``setup`` (and each subclass's override) does its work
    the first time it is called with given arguments in a process; asv's later calls with the
    same arguments keep the state already built (asv calls no teardown here)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "setup" in cls.__dict__:
            cls.setup = _once_per_arguments(cls.__dict__["setup"])


def _once_per_arguments(setup):
    @functools.wraps(setup)
    def run_once(self, *args):
        # Only the outermost setup of a super().setup() chain decides; the state counts as
        # built once that outermost call returned.
        outermost = not self.__dict__.get("_setting_up", False)
        if outermost:
            if _same(self.__dict__.get("_set_up_for"), args):
                return
            self._set_up_for = None  # a setup that fails leaves nothing to reuse
        self._setting_up = True
        try:
            setup(self, *args)
        finally:
            if outermost:
                self._setting_up = False
        if outermost:
            self._set_up_for = args

    run_once.sets_up_once = True
    return run_once


def _same(built_for, args):
    try:
        return built_for is not None and bool(built_for == args)
    except (TypeError, ValueError):  # arguments without a plain equality (arrays)
        return built_for is args


# --- scikit-learn estimators ----------------------------------------------------------------

class EstimatorBenchmark(SetUpOnce):
    """Base of the benchmarks of one scikit-learn estimator.

    A subclass sets ``module`` and ``name`` (where scikit-learn has the class), ``params`` and
    ``param_names`` (data parameters, then ``impl``), and implements ``build_dataset()``,
    ``make_estimator(cls, **overrides)`` and ``setup_cache()`` (returning ``build_dataset()``;
    defined in the benchmark module itself: asv keys its cache by the module and line where
    ``setup_cache`` is defined, so one inherited from here would be shared by every module); it reads the data as ``self.X``, ``self.y``,
    ``self.data`` and the data parameters as ``self.data_params``.
    """

    module = None
    name = None
    #: One process per parameter set, up to 3 samples or 3 s of them, and no second call forced
    #: (asv's ``min_run_count`` is 2): the suite runs hundreds of parameter sets and the peers'
    #: slowest calls take 5 to 15 s (README, "Benchmarks"). A warm-up of 0.1 s first (asv's
    #: default): in a new process, calls of a few milliseconds stay slower for several calls
    #: while the allocator and the thread pools settle. A class whose calls all take a tenth of
    #: a second or more skips it (``warmup_time = 0``): only its first call is cold (~50 ms
    #: slower), which the median of 3 samples leaves out, and a call of seconds (1 or 2
    #: samples) hardly feels it. A class with quick calls asks for more samples.
    rounds = 1
    repeat = (1, 3, 3.0)
    warmup_time = 0.1
    min_run_count = 1
    #: Parameters that ``peakmem_fit`` overrides (e.g. fewer iterations with the same peak).
    memory_params = {}
    #: The data parameters of the cases whose ``peakmem_*`` benchmarks run (the largest);
    #: None: every case. Peak memory grows with the data, so one case shows how it compares.
    memory_cases = None
    #: Whether ``setup`` fits ``self.model`` (set by the Predictor and Transformer mixins).
    needs_model = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.memory_cases is not None:
            cases = [tuple(case) for case in cls.memory_cases]
            for name in dir(cls):
                if name.startswith("peakmem_") and callable(getattr(cls, name)):
                    setattr(cls, name, _only_for(getattr(cls, name), cls.params, cases))

    def build_dataset(self):
        """Save every data set; return ``{data_key(*data_params): {array name: path}}``."""
        raise NotImplementedError

    def make_estimator(self, cls, **overrides):
        raise NotImplementedError

    def make_model(self):
        """The fitted estimator that ``time_predict`` and ``time_transform`` use."""
        return self.make_estimator(self.cls).fit(self.X, self.y)

    def setup(self, paths, *params):
        *self.data_params, impl = params
        self.cls = sklearn_class(impl, self.module, self.name)
        limit_threads()
        self.data = {k: load_array(p) for k, p in paths[data_key(*self.data_params)].items()}
        self.X, self.y = self.data["X"], self.data.get("y")
        if self.needs_model:
            self.model = self.make_model()


def _only_for(method, params, cases):
    """``method`` (a copy, its source unchanged for asv's versioning) skipped at every parameter
    set whose data parameters are none of ``cases``."""

    @functools.wraps(method)
    def run(self, *args):
        return method(self, *args)

    run.skip_params = [combo for combo in itertools.product(*params)
                       if combo[:len(cases[0])] not in cases]
    return run


def data_key(*data_params):
    return "-".join(str(p) for p in data_params)


class Estimator:
    """Fit time and peak memory. ``time_fit``: one ``fit`` of a new estimator on the same data
    (as a loop of fits would); ``peakmem_fit``: the process's peak resident memory over one
    ``fit`` (``memory_params`` applied). (What each method measures is said here, not in the
    methods: asv versions a benchmark by its code, and the recorded history of every estimator
    would be dropped for a docstring.)"""

    def time_fit(self, *params):
        self.make_estimator(self.cls).fit(self.X, self.y)

    def peakmem_fit(self, *params):
        self.make_estimator(self.cls, **self.memory_params).fit(self.X, self.y)


class Predictor:
    """``predict`` time of a fitted model: one ``predict`` on the training data, the same model
    each call."""

    needs_model = True

    def time_predict(self, *params):
        self.model.predict(self.X)


class Transformer:
    """``transform`` time of a fitted model: one ``transform`` on the training data (a new
    output array each call), the same model each call."""

    needs_model = True

    def time_transform(self, *params):
        self.model.transform(self.X)


# The mixins are served under their public names (``common.Estimator`` ...) by the module's
# ``__getattr__`` rather than held in its namespace: asv collects every public class of every
# module of the suite, and would run the mixins themselves as benchmarks (with no data: they
# fail). Their class names stay: asv versions a benchmark by its code, class line included, and
# a rename would drop the recorded history of every estimator.
_MIXINS = {"Estimator": Estimator, "Predictor": Predictor, "Transformer": Transformer}
del Estimator, Predictor, Transformer


def __getattr__(name):
    try:
        return _MIXINS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


# --- torch ops ------------------------------------------------------------------------------

class OpBenchmark(SetUpOnce):
    """Base of the benchmarks of one torch op.

    A subclass sets ``params`` / ``param_names`` (data parameters, then ``impl``) and
    implements ``make_inputs(torch, paths, *data_params) -> dict`` (attributes set on self),
    ``ours(torch)`` and ``reference(torch)`` (``{name: callable}``, set on self as attributes
    so the timed methods call them directly), and ``warmup_args() -> {name: args}``.
    ``torch_compile`` runs the reference callables through ``torch.compile`` (compiled and
    warmed up in ``setup``); ``not_compiled`` names the callables with no compiled form, whose
    benchmarks are marked with :func:`skip_for_torch_compile`.
    """

    not_compiled = ()
    #: One process per parameter set (asv's default is two); up to 10 samples (each of enough
    #: calls to last 10 ms), but no more than ~2 s of them (3 at least) for the large shapes,
    #: whose calls take up to half a second; a short warm-up (setup already called each op).
    rounds = 1
    repeat = (3, 10, 2.0)
    warmup_time = 0.05

    def setup(self, paths, *params):
        *data_params, impl = params
        torch = import_torch(impl)
        torch.set_num_threads(N_THREADS)
        for name, value in self.make_inputs(torch, paths, *data_params).items():
            setattr(self, name, value)
        if impl == "torch_rs":
            ops = self.ours(torch)
        elif impl == "torch":
            ops = self.reference(torch)
        else:
            ops = {name: torch.compile(fn, dynamic=False)
                   for name, fn in self.reference(torch).items() if name not in self.not_compiled}
            # Compiled with autograd on and under no_grad: the timed forward calls run under
            # no_grad, forward + backward calls with autograd, and each mode is its own graph.
            for name, args in self.warmup_args().items():
                if name in ops:
                    ops[name](*args)
                    with torch.no_grad():
                        ops[name](*args)
        for name, fn in ops.items():
            setattr(self, name, fn)


def skip_for_torch_compile(*data_params):
    """Decorator: skip a benchmark method for ``impl='torch_compile'`` at every combination of
    ``data_params`` (asv's ``skip_params``), for callables listed in ``not_compiled``."""

    def mark(method):
        method.skip_params = [(*combo, "torch_compile")
                              for combo in itertools.product(*data_params)]
        return method

    return mark
