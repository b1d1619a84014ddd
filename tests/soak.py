"""Soak test: random calls of every registered estimator and op, each compared with the library
it replaces, for a time budget, while the memory of the process is watched.

    python tests/soak.py --seconds 600 [--seed 0] [--call-timeout 60]

Cases come from the test registries (``tests/sklearn_rs/estimator_specs.py`` for the estimators
that ``sklearn_rs.patch_sklearn`` registers, ``tests/torch_rs/op_db.py`` for the ``rs::``
operators) with random shapes (empty and one-row included), dtypes, layouts, parameters and
thread counts. A worker process runs the cases; this process times each call (a call over the
timeout is a hang: the worker is killed and restarted), notices a worker that dies (a crash),
and samples the worker's resident memory, whose slope over the run is reported and must stay
flat. Exit status 0 means: no mismatch, no crash, no hang, no memory growth.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import select
import statistics
import subprocess
import sys
import time
import traceback
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))

# Memory growth over the measured part of a run (after warm-up) that fails it.
MAX_GROWTH_MB = 48.0
# Fraction of the run (by samples) treated as warm-up: caches, pools and allocator arenas fill.
WARM_UP = 0.3
# Largest random tensor of the op cases (a few MB; the op tests cover the large sizes).
MAX_ELEMENTS = 300_000


# ---- worker: the cases -------------------------------------------------------------------------


def _worker_imports():
    sys.path[:0] = [os.path.join(HERE, "sklearn_rs"), os.path.join(HERE, "torch_rs")]
    import estimator_specs  # noqa: F401
    import op_db  # noqa: F401


def _outcome(call):
    """("ok", value) or ("error", (type name, message))."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return "ok", call()
        except Exception as e:  # noqa: BLE001 - comparing whatever is raised
            return "error", (type(e).__name__, str(e))


class Mismatch(AssertionError):
    pass


def _compare(ours, theirs, rtol, where, data_scale=1.0):
    import numpy as np
    import scipy.sparse as sp

    if ours[0] != theirs[0]:
        raise Mismatch(f"{where}: ours {ours}, original {theirs}")
    if ours[0] == "error":
        if ours[1] != theirs[1]:
            raise Mismatch(f"{where}: ours raised {ours[1]}, original {theirs[1]}")
        return
    a, b = ours[1], theirs[1]
    if sp.issparse(a):
        a = a.toarray()
    if sp.issparse(b):
        b = b.toarray()
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise Mismatch(f"{where}: shapes {a.shape} vs {b.shape}")
    if a.dtype.kind in "iub" or b.dtype.kind in "iub":
        if not np.array_equal(a, b):
            raise Mismatch(f"{where}: {np.sum(a != b)} values differ")
        return
    # Absolute slack scaled by the data: distances computed through the expansion
    # ||x||^2 - 2<x, c> + ||c||^2 (scikit-learn's and ours) carry an absolute error of up to
    # sqrt(eps * (||x||^2 + ||c||^2 + 2|<x, c>|)), about 2 sqrt(eps) * ||x||, near zero (a
    # sample on a center), whatever the relative tolerance elsewhere.
    scale = max(1.0, data_scale, float(np.nanmax(np.abs(b), initial=0)))
    atol = max(rtol, 2 * float(np.sqrt(np.finfo(b.dtype if b.dtype.kind == "f" else float).eps)))
    if not np.allclose(a, b, rtol=rtol, atol=atol * scale, equal_nan=True):
        raise Mismatch(f"{where}: max difference {np.nanmax(np.abs(a - b))}")


def _fitted_attributes(est):
    """The public fitted attributes (``name_``) holding numbers."""
    import numbers

    import numpy as np

    return sorted(
        name for name, value in vars(est).items()
        if name.endswith("_") and not name.startswith("_")
        and (isinstance(value, numbers.Number) or isinstance(value, np.ndarray))
    )


def _relabelling(ours, theirs):
    """For clusterers with centers: when both found the same partition with the clusters
    numbered differently (which empty cluster gets which far sample is decided by NumPy's
    argpartition order in scikit-learn, and may differ when several are empty at once), a
    function that renumbers our cluster-indexed results like theirs. Otherwise the identity."""
    import numpy as np

    identity = lambda name, outcome: outcome  # noqa: E731
    ours_labels, their_labels = getattr(ours, "labels_", None), getattr(theirs, "labels_", None)
    if ours_labels is None or not hasattr(ours, "cluster_centers_") or np.array_equal(
        ours_labels, their_labels
    ):
        return identity
    mapping = {}
    for a, b in zip(ours_labels.tolist(), their_labels.tolist()):
        if mapping.setdefault(a, b) != b:
            return identity  # not the same partition: compare as is (and report it)
    k = ours.cluster_centers_.shape[0]
    used = set(mapping.values())
    spare = iter(sorted(set(range(k)) - used))
    new_index = [mapping[j] if j in mapping else next(spare) for j in range(k)]
    order = np.argsort(new_index)  # order[t] = our cluster that becomes their cluster t

    def relabel(name, outcome):
        if outcome[0] != "ok":
            return outcome
        value = outcome[1]
        if name in ("labels_", "predict"):
            return "ok", np.asarray(new_index)[value]
        if name == "cluster_centers_":
            return "ok", value[order]
        if name == "transform":
            return "ok", value[:, order]
        return outcome

    return relabel


# Labels of float32 fits that may differ from scikit-learn's, as a fraction of the samples: a
# sample at a near-tie in float32 can go either way (scikit-learn computes distances on its
# centred copy of X), and the following iterations then move slightly different centers.
FLOAT32_LABEL_FLIPS = 1e-3
# Label differences accepted so far (reported in the summary).
TOLERATED = {"near-tie labels": 0, "rows with neighbours tied at the k-th place": 0}


def _near_tie_check(theirs, X, dtype):
    """For clusterers with centers: a sample whose label differs is accepted when it is equally
    far, to the data type's rounding, from the center each side chose (both are then right;
    which one wins depends on the rounding of the distances, and scikit-learn computes them on
    its centred copy of X); for float32, up to FLOAT32_LABEL_FLIPS of the samples. Returns
    ``check(name, ours, theirs) -> ours`` with such labels set to theirs."""
    import numpy as np

    centers = getattr(theirs, "cluster_centers_", None)
    classifier = centers is None and hasattr(theirs, "decision_function") and hasattr(
        theirs, "classes_")

    def check(name, ours, their_outcome):
        if classifier and name == "predict" and ours[0] == "ok":
            return _classifier_tie_check(theirs, X, dtype, ours, their_outcome)
        if centers is None or name not in ("labels_", "predict") or ours[0] != "ok":
            return ours
        a, b = np.asarray(ours[1]), np.asarray(their_outcome[1])
        if a.shape != b.shape:
            return ours
        rows = np.flatnonzero(a != b)
        if dtype == np.float32 and 0 < rows.size <= max(1, FLOAT32_LABEL_FLIPS * a.size):
            TOLERATED["near-tie labels"] += int(rows.size)
            return "ok", b
        Xd = np.asarray(X, dtype=np.float64)[rows]
        c = np.asarray(centers, dtype=np.float64)
        d_ours = ((Xd - c[a[rows]]) ** 2).sum(axis=1)
        d_theirs = ((Xd - c[b[rows]]) ** 2).sum(axis=1)
        eps = 64 * np.finfo(dtype).eps
        scale = np.maximum((Xd**2).sum(axis=1) + (c[b[rows]] ** 2).sum(axis=1), 1.0)
        ties = np.abs(d_ours - d_theirs) <= eps * scale
        TOLERATED["near-tie labels"] += int(ties.sum())
        fixed = a.copy()
        fixed[rows[ties]] = b[rows[ties]]
        return "ok", fixed

    return check


def _neighbour_tie_check(theirs, X):
    """For k-nearest searches whose order of exactly equal distances is NumPy's artefact
    (scikit-learn's pairwise path: CSR euclidean, cosine, precomputed distances; ours keeps the
    lowest indices, README: known differences): a row that differs is accepted from
    scikit-learn where its k-th and (k+1)-th distances, by scikit-learn's own search, are
    equal. Returns ``check(name, ours, theirs) -> ours``."""
    import numpy as np
    import scipy.sparse as sp

    metric = getattr(theirs, "effective_metric_", None)
    k = getattr(theirs, "n_neighbors", None)
    if k is not None and getattr(theirs, "mode", None) == "distance":
        k += 1  # KNeighborsTransformer's distance graph holds each sample itself too
    arbitrary = metric in ("cosine", "precomputed") or (sp.issparse(X) and metric == "euclidean")
    if (not arbitrary or k is None or getattr(theirs, "_fit_method", None) != "brute"
            or k >= theirs.n_samples_fit_):
        return lambda name, ours, their_outcome: ours

    def check(name, ours, their_outcome):
        if ours[0] != "ok" or their_outcome[0] != "ok":
            return ours
        a, b = ours[1], their_outcome[1]
        a = np.asarray(a.toarray() if sp.issparse(a) else a)
        b = np.asarray(b.toarray() if sp.issparse(b) else b)
        if a.shape != b.shape:
            return ours
        distances, _ = theirs.kneighbors(X, n_neighbors=k + 1)
        tied = distances[:, k - 1] == distances[:, k]
        if a.ndim == 0:  # a score over every row
            return ("ok", b) if tied.any() else ours
        differ = (a != b).reshape(len(a), -1).any(axis=1) & tied
        TOLERATED["rows with neighbours tied at the k-th place"] += int(differ.sum())
        fixed = a.copy()
        fixed[differ] = b[differ]
        return "ok", fixed

    return check


def _classifier_tie_check(theirs, X, dtype, ours, their_outcome):
    """For linear classifiers: a predicted label that differs is accepted where scikit-learn's
    decision values of the two classes are equal to the data type's rounding (the sign of a
    margin within rounding of zero decides either way)."""
    import numpy as np

    a, b = np.asarray(ours[1]), np.asarray(their_outcome[1])
    if a.shape != b.shape:
        return ours
    rows = np.flatnonzero(a != b)
    if rows.size == 0:
        return ours
    Xd = np.asarray(X[rows].toarray() if hasattr(X, "toarray") else X[rows], dtype=np.float64)
    coef = np.atleast_2d(np.asarray(theirs.coef_, dtype=np.float64))
    scale = np.abs(Xd) @ np.abs(coef).T + np.abs(np.asarray(theirs.intercept_, dtype=np.float64))
    eps = 64 * np.finfo(dtype).eps
    values = np.asarray(theirs.decision_function(X[rows]), dtype=np.float64)
    if values.ndim == 1:
        ties = np.abs(values) <= eps * scale.max(axis=1)
    else:
        top2 = np.sort(values, axis=1)[:, -2:]
        ties = top2[:, 1] - top2[:, 0] <= eps * scale.max(axis=1)
    TOLERATED["near-tie labels"] += int(ties.sum())
    fixed = a.copy()
    fixed[rows[ties]] = b[rows[ties]]
    return "ok", fixed


def _random_samples(rng, X):
    """X in a random layout: C, F, a non-contiguous view, or CSR."""
    import numpy as np
    import scipy.sparse as sp

    layout = rng.choice(["C", "F", "strided", "csr"])
    if layout == "F":
        return np.asfortranarray(X), layout
    if layout == "strided":
        wide = np.repeat(X, 2, axis=1)
        return wide[:, ::2], layout
    if layout == "csr":
        X = X.copy()
        if X.size:
            X[np.abs(X) < np.quantile(np.abs(X), 0.3)] = 0
        return sp.csr_matrix(X), layout
    return np.ascontiguousarray(X), layout


def estimator_case(rng):
    """One fit + methods of a random registered estimator, ours against scikit-learn's."""
    import numpy as np
    from estimator_specs import SPECS, call_method, fit
    from threadpoolctl import threadpool_limits

    spec = SPECS[rng.choice(sorted(SPECS))]
    n = rng.choice([0, 1, 2, 3, 4, 10, 60, 400, 3000])
    dtype = rng.choice([np.float32, np.float64])
    X, y = spec.data(max(n, 3), rng.randrange(1 << 16))
    X, y = X[:n], (None if y is None else y[:n])
    X = X.astype(dtype)
    X_given, layout = _random_samples(rng, X)
    if not spec.sparse and layout == "csr":
        X_given, layout = np.ascontiguousarray(X), "C"
    params = dict(spec.params)
    for name, values in spec.grid.items():
        if rng.random() < 0.5:
            # A grid over a wrapping Pipeline names the estimator's step: "step__param".
            param = name.split("__", 1)[1] if spec.search_wrapper else name
            params[param] = rng.choice(values)
    comparable = n >= 3 and rng.random() < 0.9
    if comparable:
        params.update(spec.comparable_params(X))
    weights = None
    if spec.sample_weight and n and rng.random() < 0.5:
        weights = np.random.RandomState(rng.randrange(1 << 16)).uniform(0.5, 2.0, n)
    threads = rng.choice([1, 2])
    where = (f"{spec.name} n={n} d={X.shape[1]} {dtype.__name__} {layout} "
             f"weights={weights is not None} threads={threads} params={params}")
    rtol = spec.rtol if dtype == np.float64 else 1e-4
    if params.get("weights") == "distance":
        # Every query is a fitted sample here: scikit-learn's expansion leaves it a residual
        # distance (~1e-8, a weight ~1e8) where ours leaves another one or 0, so predictions
        # agree to ~1e-6 only (README: known differences).
        rtol = max(rtol, 1e-4)
    data_scale = float(np.abs(X).max(initial=0)) * np.sqrt(X.shape[1])
    with threadpool_limits(threads):
        fitted = {}
        for side, cls in (("ours", spec.ours), ("theirs", spec.theirs)):
            est = spec.build(cls, **params)
            fitted[side] = (est, _outcome(lambda est=est: fit(est, X_given, y, weights)))
        ours, theirs = fitted["ours"][1], fitted["theirs"][1]
        if not comparable:
            # Random initial states differ by design: both must succeed or fail alike.
            if ours[0] != theirs[0] or (ours[0] == "error" and ours[1] != theirs[1]):
                raise Mismatch(f"{where}: fit ours {ours}, original {theirs}")
            return where
        if ours[0] != theirs[0] or (ours[0] == "error" and ours[1] != theirs[1]):
            raise Mismatch(f"{where}: fit ours {ours}, original {theirs}")
        if ours[0] == "error":
            return where
        relabel = _relabelling(fitted["ours"][0], fitted["theirs"][0])
        near_ties = _near_tie_check(fitted["theirs"][0], X, dtype)
        neighbour_ties = _neighbour_tie_check(fitted["theirs"][0], X_given)
        for attribute in _fitted_attributes(fitted["theirs"][0]):
            results = [("ok", getattr(fitted[side][0], attribute)) for side in ("ours", "theirs")]
            results[0] = near_ties(attribute, relabel(attribute, results[0]), results[1])
            _compare(*results, rtol, f"{where} {attribute}", data_scale)
        for method in spec.methods:
            results = [
                _outcome(lambda est=fitted[side][0]: call_method(est, method, X_given, y))
                for side in ("ours", "theirs")
            ]
            results[0] = near_ties(method, relabel(method, results[0]), results[1])
            results[0] = neighbour_ties(method, results[0], results[1])
            _compare(*results, rtol, f"{where} {method}", data_scale)
    return where


def _random_tensor(rng, dtype, shape=None):
    import torch

    if shape is None:
        ndim = rng.choice([0, 1, 1, 2, 2, 3, 4])
        shape = [rng.choice([0, 1, 1, 2, 3, 7, 16, 33, 130, 70_001]) for _ in range(ndim)]
        while math.prod(shape) > MAX_ELEMENTS:
            shape[shape.index(max(shape))] //= 7
    g = torch.Generator().manual_seed(rng.randrange(1 << 30))
    t = (torch.randn(shape, generator=g, dtype=torch.float64) * 4).to(dtype)
    view = rng.choice(["contiguous", "transposed", "strided"]) if t.dim() >= 2 else "contiguous"
    if view == "transposed":
        t = t.transpose(0, 1).contiguous().transpose(0, 1)
    elif view == "strided":
        t = torch.repeat_interleave(t, 2, dim=-1)[..., ::2]
    return t, view


def op_case(rng):
    """One call of a random rs:: operator, against its float64 reference and torch's own op.
    Elementwise operators (all arguments tensors of one shape) also get random shapes and
    views; the others take their op_db samples."""
    import torch
    from op_db import OP_DB, assert_within, check_values, tensors_of

    info = rng.choice(OP_DB)
    overload = rng.choice(info.overloads)
    dtype = rng.choice([torch.float32, torch.float64, torch.bfloat16, torch.float16])
    template = overload.sample_inputs(torch.float32, False)[0].args
    elementwise = overload.vmap_samples is None and all(
        isinstance(a, torch.Tensor) and a.shape == template[0].shape for a in template
    )
    if elementwise and rng.random() < 0.8:
        first, view = _random_tensor(rng, dtype)
        args = (first,) + tuple(
            _random_tensor(rng, dtype, first.shape)[0] for _ in range(len(template) - 1)
        )
        name = f"random {tuple(first.shape)} {view}"
    else:
        sample = rng.choice(overload.sample_inputs(dtype, False))
        args, name = sample.args, sample.name
    threads = rng.choice([1, 2])
    where = f"{overload.op} {dtype} {name} threads={threads}"
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ours = check_values(overload, args, dtype, where)
        if overload.torch_equivalent is not None and dtype in overload.tolerance:
            theirs = tensors_of(overload.torch_equivalent(*args))
            for a, t in zip(ours, theirs, strict=True):
                assert_within(a, t, 4 * overload.tolerance[dtype])
    except AssertionError as e:
        raise Mismatch(f"{where}: {e}") from None
    finally:
        torch.set_num_threads(previous)
    return where


CASES = {"estimator": estimator_case, "op": op_case}


def worker(seed):
    """Runs random cases forever, one JSON line per event on stdout."""
    _worker_imports()
    rng = random.Random(seed)
    out = sys.stdout

    def say(**event):
        out.write(json.dumps(event) + "\n")
        out.flush()

    while True:
        kind = rng.choice(sorted(CASES))
        say(event="start", kind=kind)
        try:
            where = CASES[kind](rng)
            say(event="done", kind=kind, ok=True, where=where, tolerated=dict(TOLERATED))
        except Mismatch as e:
            say(event="done", kind=kind, ok=False, where=str(e))
        except Exception:  # noqa: BLE001 - any other failure of the harness is a finding too
            say(event="done", kind=kind, ok=False, where=traceback.format_exc(limit=4))


# ---- driver ------------------------------------------------------------------------------------


def _rss_mb(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return None


def _slope_mb_per_min(samples):
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    if len(samples) < 3:
        return 0.0
    ts, ms = zip(*samples)
    t_mean, m_mean = sum(ts) / len(ts), sum(ms) / len(ms)
    var = sum((t - t_mean) ** 2 for t in ts)
    if var == 0:
        return 0.0
    return 60 * sum((t - t_mean) * (m - m_mean) for t, m in zip(ts, ms)) / var


class Worker:
    def __init__(self, seed):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", "--seed", str(seed)],
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.samples = []  # (seconds since start, RSS MB)
        self.started = time.monotonic()

    def sample_memory(self):
        rss = _rss_mb(self.proc.pid)
        if rss is not None:
            self.samples.append((time.monotonic() - self.started, rss))

    def next_event(self, timeout):
        """The next event, None on timeout, or {"event": "exit"} when the worker died."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 0.5))
            self.sample_memory()
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    self.proc.wait()
                    return {"event": "exit", "code": self.proc.returncode}
                return json.loads(line)

    def kill(self):
        self.proc.kill()
        self.proc.wait()


def drive(seconds, seed, call_timeout, start_timeout=120):
    report = {"calls": {}, "mismatches": [], "crashes": [], "hangs": [], "memory": [],
              "tolerated": {}}
    end = time.monotonic() + seconds
    incarnation = 0
    while time.monotonic() < end:
        worker_proc = Worker(seed + incarnation)
        incarnation += 1
        first = True
        while time.monotonic() < end:
            start = worker_proc.next_event(start_timeout if first else call_timeout)
            first = False
            if start is None or start["event"] == "exit":
                what = report["hangs" if start is None else "crashes"]
                what.append("worker start" if start is None else f"exit code {start['code']}")
                break
            done = worker_proc.next_event(call_timeout)
            if done is None:
                report["hangs"].append(f"{start['kind']} call over {call_timeout} s")
                break
            if done["event"] == "exit":
                report["crashes"].append(f"{start['kind']} call: exit code {done['code']}")
                break
            if "tolerated" in done:
                report["tolerated"][incarnation] = done["tolerated"]
            calls = report["calls"].setdefault(done["kind"], [0, 0])
            calls[0] += 1
            if not done["ok"]:
                calls[1] += 1
                report["mismatches"].append(done["where"])
        worker_proc.kill()
        report["memory"].append(_memory_summary(worker_proc.samples))
    return report


def _memory_summary(samples):
    measured = samples[int(len(samples) * WARM_UP):]
    if len(measured) < 3:
        return {"samples": len(samples)}
    # Medians, not peaks: a leak moves the baseline, while one large case only makes a spike.
    half = len(measured) // 2
    growth = statistics.median(m for _, m in measured[half:]) - statistics.median(
        m for _, m in measured[:half]
    )
    return {
        "samples": len(samples),
        "start_mb": round(measured[0][1], 1),
        "end_mb": round(measured[-1][1], 1),
        "peak_mb": round(max(m for _, m in samples), 1),
        "slope_mb_per_min": round(_slope_mb_per_min(measured), 2),
        "growth_mb": round(growth, 1),
        "seconds": round(measured[-1][0] - measured[0][0], 1),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--call-timeout", type=float, default=60)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.seed)
        return 0
    report = drive(args.seconds, args.seed, args.call_timeout)
    grew = [m for m in report["memory"] if m.get("growth_mb", 0) > MAX_GROWTH_MB]
    total = sum(c[0] for c in report["calls"].values())
    print(f"soak: {total} calls in {args.seconds:.0f} s (seed {args.seed})")
    for kind, (count, failed) in sorted(report["calls"].items()):
        print(f"  {kind}: {count} calls, {failed} mismatches")
    for m in report["memory"]:
        print(f"  memory: {m}")
    tolerated = {}
    for counts in report["tolerated"].values():
        for name, count in counts.items():
            tolerated[name] = tolerated.get(name, 0) + count
    for name, count in tolerated.items():
        print(f"  tolerated: {count} {name}")
    for title in ("mismatches", "crashes", "hangs"):
        for item in report[title][:20]:
            print(f"  {title[:-1] if title != 'mismatches' else 'mismatch'}: {item}")
    failed = report["mismatches"] or report["crashes"] or report["hangs"] or grew or total == 0
    print("soak: FAILED" if failed else "soak: OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
