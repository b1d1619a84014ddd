"""Speed-ratio report from the latest asv results: ``python -m benchmarks.report``.

Reads the newest results file for the current commit (``benchmarks/results/<machine>/``; the newest file
of any commit if there is none for HEAD), prints a markdown table of ``peer time / our time`` for
every benchmark and parameter set (above 1 means ours is faster), a table of peak memory and
inertia, and writes a bar chart of the speed ratios (``benchmarks/ratios.png`` by default).

Options: ``--results FILE`` (a results JSON), ``--png PATH``, ``--no-png``.
"""

import argparse
import ast
import datetime
import glob
import itertools
import json
import math
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(REPO, "benchmarks", "results")
DEFAULT_PNG = os.path.join(REPO, "benchmarks", "ratios.png")
OURS = {"sklearn_rs", "torch_rs"}


def _git_head():
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def find_results_file(results_dir=RESULTS_DIR, commit=None):
    """Newest results file for ``commit`` (default HEAD), else the newest one overall."""
    files = [
        f
        for f in glob.glob(os.path.join(results_dir, "*", "*.json"))
        if os.path.basename(f) != "machine.json"
    ]
    if not files:
        raise SystemExit(f"no asv results under {results_dir}: run `make bench` first")
    commit = commit or _git_head()
    if commit:
        mine = [f for f in files if os.path.basename(f).startswith(commit[:8])]
        files = mine or files
    return max(files, key=os.path.getmtime)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


def load_rows(results_path):
    """Flatten a results file into rows: one per (benchmark, parameter set) with a value per impl."""
    with open(results_path) as fh:
        data = json.load(fh)
    bench_meta = {}
    meta_path = os.path.join(os.path.dirname(os.path.dirname(results_path)), "benchmarks.json")
    if os.path.exists(meta_path):
        with open(meta_path) as fh:
            bench_meta = json.load(fh)
    columns = data.get("result_columns", ["result", "params"])
    rows = {}
    for name, entry in sorted(data.get("results", {}).items()):
        entry = dict(zip(columns, entry))
        values, params = entry.get("result"), entry.get("params") or []
        if not isinstance(values, list):
            values = [values]
        names = bench_meta.get(name, {}).get("param_names") or [f"p{i}" for i in range(len(params))]
        if "impl" not in names:
            continue
        unit = bench_meta.get(name, {}).get("unit", "seconds")
        impl_at = names.index("impl")
        for combo, value in zip(itertools.product(*params), values):
            combo = [ast.literal_eval(v) if isinstance(v, str) else v for v in combo]
            impl = combo[impl_at]
            rest = tuple(v for i, v in enumerate(combo) if i != impl_at)
            key = (name, rest)
            row = rows.setdefault(key, {"bench": name, "params": rest, "unit": unit, "values": {}})
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                row["values"][impl] = float(value)
    return data, list(rows.values())


def fmt_value(value, unit):
    if value is None:
        return "n/a"
    if unit == "seconds":
        for scale, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
            if value >= scale or suffix == "ns":
                return f"{value / scale:.3g} {suffix}"
    if unit == "bytes":
        return f"{value / 2**20:.0f} MiB"
    return f"{value:.6g}"


def short_name(bench):
    module, _, rest = bench.partition(".")
    return rest.split(".")[-1]


def split_rows(rows):
    speed, other = [], []
    for row in rows:
        leaf = short_name(row["bench"])
        (speed if leaf.startswith("time_") or row["unit"] == "seconds" else other).append(row)
    return speed, other


def peers_of(rows):
    return sorted({impl for row in rows for impl in row["values"] if impl not in OURS})


def ours_of(row):
    return next((impl for impl in row["values"] if impl in OURS), None)


def ratio(row, peer, inverse=False):
    ours = ours_of(row)
    if ours is None or peer not in row["values"] or row["values"][ours] <= 0:
        return None
    r = row["values"][peer] / row["values"][ours]
    return 1.0 / r if inverse else r


def _table(rows, peers, cells_of):
    head = ["benchmark", "params", "ours"]
    for p in peers:
        head += [p, f"{p} / ours" if cells_of == "speed" else "ratio"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        ours = ours_of(row)
        cells = [
            short_name(row["bench"]),
            ", ".join(str(p) for p in row["params"]),
            fmt_value(row["values"].get(ours), row["unit"]),
        ]
        for p in peers:
            if cells_of == "speed":
                r = ratio(row, p)
                shown = "n/a" if r is None else f"**{r:.2f}x**"
            else:
                r = ratio(row, p, inverse="inertia" in row["bench"])
                shown = "n/a" if r is None else f"{r:.3g}"
            cells += [fmt_value(row["values"].get(p), row["unit"]), shown]
        out.append("| " + " | ".join(cells) + " |")
    return out


def _by_module(rows):
    groups = {}
    for row in rows:
        groups.setdefault(row["bench"].split(".")[0], []).append(row)
    return sorted(groups.items())


def markdown(data, rows):
    speed, other = split_rows(rows)
    date = datetime.datetime.fromtimestamp(data.get("date", 0) / 1000).strftime("%Y-%m-%d")
    from benchmarks.common import N_THREADS

    lines = [
        f"Commit `{data.get('commit_hash', '?')[:8]}`, {date}, {cpu_model()}, "
        f"{os.cpu_count()} CPUs, {N_THREADS} threads.",
    ]
    for module, group in _by_module(speed):
        lines += ["", f"{module}: speed, peer time / our time (above 1: ours is faster).", ""]
        lines += _table(group, peers_of(group), "speed")
    for module, group in _by_module(other):
        lines += [
            "",
            f"{module}: peak memory (peer / ours: above 1 means ours uses less) and inertia"
            " (ours / peer: at most 1 means ours is as good or better).",
            "",
        ]
        lines += _table(group, peers_of(group), "other")
    return "\n".join(lines)


def plot(data, rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    speed, _ = split_rows(rows)
    peers = peers_of(speed)
    bars = []
    for row in speed:
        for p in peers:
            r = ratio(row, p)
            if r is not None:
                label = f"{short_name(row['bench'])} {' '.join(str(v) for v in row['params'])}"
                bars.append((f"{label} vs {p}", r, row["bench"].split(".")[0]))
    if not bars:
        return None
    families = sorted({b[2] for b in bars})
    palette = plt.get_cmap("tab20").colors  # one colour per benchmark module
    colors = {f: palette[i % len(palette)] for i, f in enumerate(families)}
    fig, ax = plt.subplots(figsize=(10, 0.22 * len(bars) + 1.5))
    ys = range(len(bars))
    ax.barh(list(ys), [b[1] for b in bars], color=[colors[b[2]] for b in bars])
    ax.set_yticks(list(ys), [b[0] for b in bars], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("speed-up: peer time / our time (log scale; right of 1 = ours faster)")
    date = datetime.datetime.fromtimestamp(data.get("date", 0) / 1000).strftime("%Y-%m-%d")
    from benchmarks.common import N_THREADS

    ax.set_title(
        f"sklearn_rs / torch_rs vs stock libraries — {data.get('commit_hash', '?')[:8]}, "
        f"{date}, {cpu_model()}, {N_THREADS} threads",
        fontsize=9,
    )
    for y, (_, r, _) in zip(ys, bars):
        ax.text(r, y, f" {r:.2f}x", va="center", fontsize=6)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[f]) for f in families]
    ax.legend(handles, families, fontsize=7, loc="lower right")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", help="asv results JSON (default: newest for HEAD)")
    parser.add_argument("--png", default=DEFAULT_PNG, help="where to write the chart")
    parser.add_argument("--no-png", action="store_true")
    args = parser.parse_args(argv)
    path = args.results or find_results_file()
    data, rows = load_rows(path)
    print(f"<!-- from {os.path.relpath(path, REPO)} -->")
    print(markdown(data, rows))
    if not args.no_png:
        out = plot(data, rows, args.png)
        if out:
            print(f"\nchart: {os.path.relpath(out, REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
