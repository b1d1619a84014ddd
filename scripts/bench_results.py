"""The recorded asv results in benchmarks/results: naming, and regression checks between commits.

``normalize``: ``make bench`` runs asv on an existing interpreter, whose environment asv names
after the interpreter's absolute path (``existing-py_home_me_sklearn-rs_.venv_bin_python``). This
renames such results to one environment, ``existing-venv`` (the project's .venv), so that the
dashboard draws the runs of every checkout as one series and ``compare`` matches them.

``has COMMIT``: exit status 0 when this machine has results recorded for COMMIT.

``compare BASE [HEAD]``: asv's comparison table (``asv compare``) of the results recorded on
this machine for two commits, every benchmark, sorted by ratio; exits with status 1 when any
benchmark got worse by more than ``--factor`` (default 1.10, i.e. 10%) with a difference that
asv's statistics call significant, or started failing. Runs nothing: both commits need results
(``make bench`` on each; ``make bench-compare`` runs HEAD first when it has none).
"""

import argparse
import glob
import json
import os
import socket
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV_NAME = "existing-venv"


def load_conf():
    from asv.config import Config

    return Config.load(os.path.join(REPO, "asv.conf.json"))


def normalize(results_dir):
    for path in glob.glob(os.path.join(results_dir, "*", "*-existing-py_*.json")):
        with open(path) as fh:
            data = json.load(fh)
        data["env_name"] = ENV_NAME
        data["python"] = ".venv/bin/python"
        data.setdefault("params", {})["python"] = ".venv/bin/python"
        target = os.path.join(os.path.dirname(path),
                              f"{data['commit_hash'][:8]}-{ENV_NAME}.json")
        with open(target, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.write("\n")
        if os.path.abspath(target) != os.path.abspath(path):
            os.remove(path)
        print(f"recorded {os.path.relpath(target, REPO)}")


def this_machine():
    """asv's name of this machine (~/.asv-machine.json; asv's default is the host name)."""
    try:
        with open(os.path.expanduser("~/.asv-machine.json")) as fh:
            names = [k for k in json.load(fh) if k != "version"]
        if names:
            return names[0]
    except (OSError, ValueError):
        pass
    return socket.gethostname()


def has_results(commit):
    """Whether this machine has recorded results for ``commit``."""
    import subprocess

    sha = subprocess.run(["git", "rev-parse", commit], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.strip()
    return bool(glob.glob(os.path.join(REPO, "benchmarks", "results", this_machine(),
                                       f"{sha[:8]}-*.json")))


def machine_with(results_dir, hashes, machine=None):
    """The machine whose results hold every commit of ``hashes`` (this host's first)."""
    candidates = sorted(os.path.basename(os.path.dirname(p))
                        for p in glob.glob(os.path.join(results_dir, "*", "machine.json")))
    if machine:
        candidates = [m for m in candidates if m == machine]
    host = this_machine()
    candidates.sort(key=lambda m: m != host)
    for name in candidates:
        if all(glob.glob(os.path.join(results_dir, name, f"{h[:8]}-*.json")) for h in hashes):
            return name
    missing = [h[:8] for h in hashes
               if not glob.glob(os.path.join(results_dir, machine or host, f"{h[:8]}-*.json"))]
    raise SystemExit(f"no results recorded for {', '.join(missing)} on "
                     f"{machine or host}: run `make bench` with that commit checked out")


def compare(base, head, factor, machine=None):
    from asv.repo import get_repo

    conf = load_conf()
    repo = get_repo(conf)
    hashes = [repo.get_hash_from_name(name) for name in (base, head)]
    return compare_hashes(conf, hashes, (base, head), factor, machine)


def compare_hashes(conf, hashes, names, factor, machine=None):
    """Print asv's table for two commit hashes; 1 if one got slower by more than ``factor``."""
    from asv.commands.compare import Compare
    from asv.results import iter_results_for_machine_and_hash

    base, head = names
    machine = machine_with(conf.results_dir, hashes, machine)

    def resultset(commit_hash):
        for result in iter_results_for_machine_and_hash(conf.results_dir, machine, commit_hash):
            for key in result.get_all_result_keys():
                params = result.get_result_params(key)
                yield (key, params, result.get_result_value(key, params),
                       result.get_result_stats(key, params),
                       result.get_result_samples(key, params),
                       result.benchmark_version.get(key), machine, ENV_NAME)

    print(f"machine {machine}: {base} ({hashes[0][:8]}) -> {head} ({hashes[1][:8]}), "
          f"regression threshold {factor:.2f}x")
    worsened, _improved = Compare.print_table(
        conf, hashes[0], hashes[1], factor=factor, split=False, machine=machine,
        sort="ratio", resultset_1=resultset(hashes[0]), resultset_2=resultset(hashes[1]),
        commit_names={hashes[0]: base, hashes[1]: head})
    if worsened:
        print(f"\nREGRESSION: at least one benchmark is slower by more than {factor:.2f}x "
              f"(rows marked '+'), or newly failing ('!')")
        return 1
    print(f"\nno benchmark slower by more than {factor:.2f}x")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("normalize")
    has = sub.add_parser("has", help="exit status 0 if this machine has results for COMMIT")
    has.add_argument("commit")
    cmp = sub.add_parser("compare")
    cmp.add_argument("base")
    cmp.add_argument("head", nargs="?", default="HEAD")
    cmp.add_argument("--factor", type=float, default=1.10)
    cmp.add_argument("--machine")
    args = parser.parse_args()
    os.chdir(REPO)  # asv.conf.json's paths are relative to the repository root
    if args.command == "has":
        return 0 if has_results(args.commit) else 1
    if args.command == "normalize":
        normalize(load_conf().results_dir)
        return 0
    return compare(args.base, args.head, args.factor, args.machine)


if __name__ == "__main__":
    sys.exit(main())
