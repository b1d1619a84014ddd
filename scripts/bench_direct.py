"""Times the asv benchmarks directly, as a user's loop would, and sets the figures beside asv's.

For every timed benchmark (``time_*``) of ``benchmarks/`` whose ``module.Class.method`` matches
``--bench`` and whose parameters match ``--params``, the benchmark class is set up once per
implementation, then each implementation's call runs in a plain loop (several calls per sample
for short calls), the implementations taking turns, ``--repeats`` times. Printed per case:

* ``direct``: median (``--stat``) seconds per call of that loop (the figure a user's loop sees),
  and the page faults per call (``getrusage``);
* ``harness`` (``--harness``): asv's own timing harness (asv_runner's ``TimeBenchmark``, as
  ``asv run`` uses it) run in this same process, taking turns with the direct loop: the median
  of its samples, as asv reports. ``--setup-every-call`` makes ``setup`` rebuild its state on
  each of asv's calls (the behaviour before ``common.SetUpOnce``);
* ``asv`` (``--results FILE`` or ``--commit``): the figure recorded by an ``asv run``;
* ``/direct``: those figures divided by the direct one, and ``peer/ours`` ratios from each.

Usage (from the repository root; the native modules that ``PYTHONPATH`` points at are measured):
    .venv/bin/python scripts/bench_direct.py --bench FastGelu.time_forward --params 1048576
    .venv/bin/python scripts/bench_direct.py --bench KMeansPredict --commit HEAD
The figures are wall-clock; on a shared machine run with the load printed at the top low, or
compare the ratios, which both sides measure under the same load.
"""

import argparse
import glob
import importlib
import inspect
import itertools
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS = {"sklearn_rs", "torch_rs"}
#: A sample of the direct loop lasts at least this long (short calls are repeated within it).
SAMPLE_SECONDS = 0.02


def benchmark_cases(pattern, params_pattern):
    """Yield (module, class, method name, parameter tuples) of the matching time_ benchmarks."""
    import re

    rx, prx = re.compile(pattern), re.compile(params_pattern)
    for path in sorted(glob.glob(os.path.join(REPO, "benchmarks", "bench_*.py"))):
        module = importlib.import_module(f"benchmarks.{os.path.basename(path)[:-3]}")
        for cls_name, cls in sorted(vars(module).items()):
            if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                continue
            if cls_name.startswith("_"):
                continue
            for name in sorted(dir(cls)):
                if not name.startswith("time_"):
                    continue
                full = f"{module.__name__.split('.')[-1]}.{cls_name}.{name}"
                if not rx.search(full):
                    continue
                params = getattr(cls, "params", [[]])
                combos = list(itertools.product(*params)) if params else [()]
                combos = [c for c in combos if prx.search(", ".join(map(str, c)))]
                if combos:
                    yield module, cls, name, combos


def skipped(cls, name, combo):
    return tuple(combo) in {tuple(s) for s in getattr(getattr(cls, name), "skip_params", [])}


#: The clock of both the direct loop and the in-process harness (``--timer``).
clock = time.perf_counter


def minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def per_call_loop(fn, calls, faults=None):
    """Seconds per call of ``calls`` calls in a row; adds [page faults, calls] to ``faults``."""
    f0 = minor_faults()
    start = clock()
    for _ in range(calls):
        fn()
    seconds = (clock() - start) / calls
    if faults is not None:
        faults[0] += minor_faults() - f0
        faults[1] += calls
    return seconds


def calls_per_sample(fn):
    first = per_call_loop(fn, 1)
    return max(1, min(10000, int(SAMPLE_SECONDS / max(first, 1e-7))))


class HarnessRun:
    """asv_runner's TimeBenchmark for one benchmark and parameter set, in this process."""

    def __init__(self, module, cls, name, combo, cache):
        from asv_runner.discovery import _get_benchmark

        self.bench = _get_benchmark(name, module, cls, getattr(cls, name))
        params = getattr(cls, "params", [[]])
        self.bench.set_param_idx(list(itertools.product(*params)).index(tuple(combo)))
        self.bench.set_cache(cache)
        self.instance = self.bench._attr_sources[1]
        self.instance.timer = clock  # asv reads `timer` from the instance
        if self.bench.do_setup():
            raise NotImplementedError
        self.faults = [0, 0]
        timed = self.bench.func

        def counted(*args):
            self.faults[1] += 1
            return timed(*args)

        self.bench.func = counted

    def time(self, stat):
        f0 = minor_faults()
        result = self.bench.do_run()
        self.faults[0] += minor_faults() - f0  # setup re-runs included, as asv has them
        return stat(result["samples"]), result["number"]


def asv_results(path):
    """{(benchmark name, params tuple as strings): seconds} from an asv results file."""
    with open(path) as fh:
        data = json.load(fh)
    columns = data.get("result_columns", ["result", "params"])
    out = {}
    for name, entry in data["results"].items():
        entry = dict(zip(columns, entry))
        values, params = entry.get("result"), entry.get("params") or []
        if not isinstance(values, list):
            values, params = [values], []
        for combo, value in zip(itertools.product(*params), values):
            out[(name, tuple(str(p).strip("'") for p in combo))] = value
    return out


def results_file_for(commit):
    sha = subprocess.run(["git", "rev-parse", commit], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.strip()
    conf = json.loads("\n".join(line for line in open(os.path.join(REPO, "asv.conf.json"))
                                if not line.strip().startswith("//")))
    files = glob.glob(os.path.join(REPO, conf["results_dir"], "*", f"{sha[:8]}-*.json"))
    if not files:
        raise SystemExit(f"no asv results for {commit} ({sha[:8]}) under {conf['results_dir']}")
    return max(files, key=os.path.getmtime)


def fmt(seconds):
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g}{unit}"
    return f"{seconds * 1e9:.3g}ns"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", default=".", help="regex on module.Class.time_method")
    parser.add_argument("--params", default=".", help="regex on the parameter values")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--harness", action="store_true", help="also time with asv's harness")
    parser.add_argument("--setup-every-call", action="store_true",
                        help="setup rebuilds its state on every asv call (the old behaviour)")
    parser.add_argument("--stat", choices=["median", "min"], default="median",
                        help="statistic of the samples (asv records the median; the minimum "
                             "is steadier on a loaded machine)")
    parser.add_argument("--timer", choices=["wall", "cpu"], default="wall",
                        help="cpu: this process's CPU time (user + system, page faults "
                             "included), which other processes' load does not inflate; "
                             "meaningful with BENCH_NUM_THREADS=1")
    parser.add_argument("--results", help="an asv results JSON to compare with")
    parser.add_argument("--commit", help="compare with the asv results recorded for this commit")
    args = parser.parse_args()

    stat = statistics.median if args.stat == "median" else min
    global clock
    clock = time.perf_counter if args.timer == "wall" else time.process_time
    sys.path.insert(0, REPO)
    from benchmarks import common

    if common.TINY:
        sys.exit("BENCH_TINY=1 (the smoke test's tiny data) is set: unset it to measure")
    if args.setup_every_call:
        common._same = lambda built_for, call_args: False
    recorded = {}
    if args.results or args.commit:
        path = args.results or results_file_for(args.commit)
        print(f"asv results: {os.path.relpath(path, REPO)}")
        recorded = asv_results(path)
    print(f"load: {open('/proc/loadavg').read().split()[:3]}, threads: {common.N_THREADS}, "
          f"repeats: {args.repeats}")
    os.chdir(tempfile.mkdtemp(prefix="bench-direct-"))
    caches = {}
    for module, cls, name, combos in benchmark_cases(args.bench, args.params):
        key = (module.__name__, getattr(cls.setup_cache, "__qualname__", None))
        if key not in caches:
            caches[key] = cls().setup_cache() if hasattr(cls, "setup_cache") else None
        cache = caches[key]
        bench_name = f"{module.__name__.split('.')[-1]}.{cls.__name__}.{name}"
        print(f"\n{bench_name}")
        # Cases that differ only in the implementation take turns.
        groups = {}
        for combo in combos:
            groups.setdefault(tuple(combo[:-1]), []).append(combo)
        for data_params, group in groups.items():
            runs = {}
            for combo in group:
                if skipped(cls, name, combo):
                    continue
                args_ = (*([cache] if cache is not None else []), *combo)
                harness = None
                try:
                    if args.harness:
                        # The direct loop runs on the very instance asv's harness set up.
                        harness = HarnessRun(module, cls, name, combo, cache)
                        instance = harness.instance
                    else:
                        instance = cls()
                        instance.setup(*args_)
                except NotImplementedError:
                    continue
                method = getattr(instance, name)
                fn = (lambda m=method, a=args_: m(*a))
                runs[combo[-1]] = {"fn": fn, "calls": calls_per_sample(fn), "direct": [],
                                   "harness": harness, "via_harness": [], "number": None,
                                   "faults": [0, 0]}
            for _ in range(args.repeats):
                for run in runs.values():
                    run["direct"].append(per_call_loop(run["fn"], run["calls"], run["faults"]))
                    if run["harness"] is not None:
                        seconds, run["number"] = run["harness"].time(stat)
                        run["via_harness"].append(seconds)
            figures = {}
            for impl, run in runs.items():
                direct = stat(run["direct"])
                harness = stat(run["via_harness"]) if run["via_harness"] else None
                asv = recorded.get((bench_name, tuple(map(str, (*data_params, impl)))))
                figures[impl] = (direct, harness, asv)
                line = f"  {', '.join(map(str, data_params)):<28} {impl:<14} direct {fmt(direct):>8}"
                line += f" (x{run['calls']}, {run['faults'][0] / run['faults'][1]:.0f} faults/call)"
                for label, value in (("harness", harness), ("asv", asv)):
                    if value is not None and not math.isnan(value):
                        line += f"   {label} {fmt(value):>8} = {value / direct:5.2f}x direct"
                        if label == "harness":
                            f, n = run["harness"].faults
                            line += f" ({f / max(n, 1):.0f} faults/call)"
                print(line, flush=True)
            ours = [impl for impl in figures if impl in OURS]
            if ours:
                mine = figures[ours[0]]
                for impl, theirs in figures.items():
                    if impl == ours[0]:
                        continue
                    parts = []
                    for label, a, b in zip(("direct", "harness", "asv"), theirs, mine):
                        if a is not None and b is not None and not math.isnan(a) and b > 0:
                            parts.append(f"{label} {a / b:.2f}x")
                    print(f"  {'':<28} {impl + '/ours':<14} " + "   ".join(parts))


if __name__ == "__main__":
    main()
