"""Runs every benchmark of ``benchmarks/`` once on tiny data for the given implementations, in
this process, and writes what each call did to a JSON file. Nothing is timed.

    BENCH_TINY=1 python tests/bench_smoke.py OUT.json WORKDIR IMPL [IMPL ...]

Each IMPL is an estimator peer (``sklearn_rs``, ``sklearn``, ``sklearnex``: every estimator
benchmark), an op peer (``torch_rs``, ``torch``, ``torch_compile``: every op benchmark) or
``llama`` (``bench_llama``'s training step in every variant, and its decode step), run one after
the other. Every case is set up as asv does it (``setup_cache`` once per cache and process, in
WORKDIR; ``setup``; the method), and each setup and method call records its outcome and
evidence of what did the work: the ``sklearn_rs._core`` functions called and the fallbacks
logged, the estimator class's module, or the operators the torch profiler saw (``rs::*``, a
compiled region) and the graphs compiled. ``tests/test_benchmarks.py`` runs this in fresh
processes and checks the file."""

import contextlib
import importlib
import inspect
import itertools
import json
import logging
import os
import sys
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_PREFIXES = ("time_", "peakmem_", "track_")
ESTIMATOR_IMPLS = ("sklearn_rs", "sklearn", "sklearnex")
OP_IMPLS = ("torch_rs", "torch", "torch_compile")


def benchmark_classes():
    """(module name, class) of every benchmark class, as asv collects them: public classes of a
    ``bench_*`` module, defined there, with benchmark methods."""
    for name in sorted(os.listdir(os.path.join(REPO, "benchmarks"))):
        if not (name.startswith("bench_") and name.endswith(".py")):
            continue
        module = importlib.import_module(f"benchmarks.{name[:-3]}")
        for attr, obj in sorted(vars(module).items()):
            if (not attr.startswith("_") and inspect.isclass(obj)
                    and obj.__module__ == module.__name__ and methods_of(obj)):
                yield name[:-3], obj


def methods_of(cls):
    return sorted(m for m in dir(cls) if m.startswith(BENCH_PREFIXES))


class Record:
    """Outcome of one setup or method call, with its evidence (a dict written as JSON)."""

    def __init__(self, out, **fields):
        self.data = dict(fields, status="ok")
        out.append(self.data)

    @contextlib.contextmanager
    def running(self):
        start = time.perf_counter()  # only to see what makes the smoke run slow
        try:
            yield self.data
        except NotImplementedError as exc:  # asv: the case is skipped
            self.data.update(status="skipped", detail=str(exc))
        except BaseException as exc:  # noqa: BLE001  (every failure is reported, then the next)
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.data.update(status="error", detail="".join(traceback.format_exception(exc)))
        finally:
            self.data["seconds"] = round(time.perf_counter() - start, 3)


# --- evidence ---------------------------------------------------------------------------------

class EstimatorEvidence:
    """Counts the calls into ``sklearn_rs._core`` and collects the fallbacks ``sklearn_rs`` logs."""

    def __init__(self, count_core):
        self.core_calls = 0
        self.fallbacks = []
        if count_core:
            from sklearn_rs import _core

            # Every caller looks the functions up on the module (``_core.name(...)``).
            for name, fn in list(vars(_core).items()):
                if type(fn).__name__ == "builtin_function_or_method" and not name.startswith("_"):
                    setattr(_core, name, self._counting(fn))
            handler = logging.Handler(logging.INFO)
            handler.emit = lambda record: self.fallbacks.append(record.getMessage())
            logger = logging.getLogger("sklearn_rs")
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)

    def _counting(self, fn):
        def call(*args, **kwargs):
            self.core_calls += 1
            return fn(*args, **kwargs)

        return call

    @contextlib.contextmanager
    def watch(self, record, bench, profile=True):
        """Records the evidence of the call in the block (``profile``: the op evidence's)."""
        calls, logged = self.core_calls, len(self.fallbacks)
        try:
            yield
        finally:
            record["core_calls"] = self.core_calls - calls
            record["fallbacks"] = [m for m in self.fallbacks[logged:] if "falling back" in m]
            cls = getattr(bench, "cls", None)
            record["estimator_module"] = getattr(cls, "__module__", None)
            model = getattr(bench, "model", None)
            if model is not None:
                record["model_module"] = type(model).__module__


class OpEvidence:
    """The operators the torch profiler sees during a call, and the graphs compiled in it."""

    @contextlib.contextmanager
    def watch(self, record, bench=None, profile=True):
        """Records the evidence of the call in the block; ``profile=False`` (a setup, which may
        compile): only the graphs compiled and the thread count."""
        import torch
        from torch._dynamo.utils import counters

        graphs = counters["stats"]["unique_graphs"]
        with contextlib.ExitStack() as stack:
            prof = None
            if profile:
                prof = stack.enter_context(torch.profiler.profile(
                    activities=[torch.profiler.ProfilerActivity.CPU]))
            try:
                yield
            finally:
                if prof is not None:
                    stack.close()
                    names = {event.name for event in prof.events()}
                    record["rs_ops"] = sorted(n for n in names if n.startswith("rs::"))
                    record["compiled_region"] = any("Compiled" in n for n in names)
                record["graphs_compiled"] = counters["stats"]["unique_graphs"] - graphs
                record["threads"] = torch.get_num_threads()


# --- runs -------------------------------------------------------------------------------------

class SetupCacheFailed(RuntimeError):
    """The cache of a class whose ``setup_cache`` raised (reported in its own record)."""


def run_asv_benchmarks(impl, evidence, caches, out):
    """Every case of every benchmark class whose implementations include ``impl``."""
    for module, cls in benchmark_classes():
        if impl not in cls.params[-1]:
            continue
        prefix = f"{module}.{cls.__name__}"
        key = cls.setup_cache  # asv shares one cache between the classes with the same function
        if key not in caches:
            record = Record(out, benchmark=f"{prefix}.setup_cache", params=[])
            caches[key] = SetupCacheFailed()
            with record.running():
                caches[key] = cls().setup_cache()
        for data_params in itertools.product(*cls.params[:-1]):
            params = (*data_params, impl)
            shown = [repr(p) for p in params]
            methods = []
            for method in methods_of(cls):
                if params in getattr(getattr(cls, method), "skip_params", ()):
                    Record(out, benchmark=f"{prefix}.{method}", params=shown).data.update(
                        status="skip_params")
                else:
                    methods.append(method)
            if not methods:
                continue
            cache = caches[key]
            bench = cls()
            setup = Record(out, benchmark=f"{prefix}.setup", params=shown)
            with setup.running() as data:
                if isinstance(cache, SetupCacheFailed):
                    raise cache
                with evidence.watch(data, bench, profile=False):
                    bench.setup(cache, *params)
            for method in methods:
                record = Record(out, benchmark=f"{prefix}.{method}", params=shown)
                if setup.data["status"] != "ok":
                    record.data.update(status=setup.data["status"], detail="setup: "
                                       + setup.data.get("detail", ""))
                    continue
                with record.running() as data:
                    with evidence.watch(data, bench):
                        value = getattr(bench, method)(cache, *params)
                    if method.startswith("track_"):
                        data["value"] = value


def run_llama(out):
    """Every training-step variant through ``run_one`` (one timed step after the warm-up, the
    operators of that step profiled) and the decode step, unpatched and patched."""
    from benchmarks import bench_llama

    evidence = OpEvidence()
    build = bench_llama.training_step
    current = {}

    def profiled_training_step(model, compiled):
        step, calls = build(model, compiled), []

        def run():
            if calls:  # the timed step, after the warm-up call (which compiles)
                with evidence.watch(current["record"]):
                    step()
                current["record"]["torch_rs_modules"] = sum(
                    type(m).__module__.startswith("torch_rs") for m in model.modules())
            else:
                step()
            calls.append(1)

        return run

    bench_llama.training_step = profiled_training_step
    for variant in bench_llama.VARIANTS:
        record = Record(out, benchmark="bench_llama.run_one", params=[repr(variant)])
        current["record"] = record.data
        with record.running() as data:
            data["value"] = bench_llama.run_one(variant, steps=1)
    for patched in (False, True):
        record = Record(out, benchmark="bench_llama.decode_latency", params=[repr(patched)])
        with record.running() as data:
            with evidence.watch(data):
                data["value"] = bench_llama.decode_latency(patched, repeats=1)


def unavailable(impl):
    """Why ``impl`` cannot run here (an optional library is not installed), or None."""
    needs = {"sklearnex": ["sklearnex"], "torch": ["torch"], "torch_compile": ["torch"],
             "torch_rs": ["torch", "torch_rs"], "llama": ["torch", "torch_rs", "transformers"]}
    for name in needs.get(impl, []):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            return f"{name} is not importable: {exc}"
    return None


def main(path, workdir, *impls):
    sys.path.insert(0, REPO)
    from benchmarks import common

    assert common.TINY, "run with BENCH_TINY=1"
    os.chdir(workdir)  # asv runs setup_cache in its cache directory; the .npy files go there
    missing = {impl: why for impl in impls if (why := unavailable(impl))}
    out, caches = [], {}
    try:
        estimator_evidence = None
        for impl in impls:
            if impl in missing:
                continue
            if impl == "llama":
                run_llama(out)
                continue
            if impl in ESTIMATOR_IMPLS:
                # One counter for every implementation of the process: the peers' cases must
                # not call sklearn_rs either.
                if estimator_evidence is None:
                    estimator_evidence = EstimatorEvidence("sklearn_rs" in impls)
                evidence = estimator_evidence
            else:
                evidence = OpEvidence()
            run_asv_benchmarks(impl, evidence, caches, out)
    finally:
        loaded = {name: name in sys.modules
                  for name in ("sklearn_rs", "sklearnex", "torch", "torch_rs", "transformers")}
        with open(path, "w") as f:
            json.dump({"records": out, "unavailable": missing, "loaded": loaded}, f, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:])
