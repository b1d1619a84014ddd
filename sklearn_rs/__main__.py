"""Run an unmodified script or module with scikit-learn patched by sklearn_rs.

    python -m sklearn_rs [options] script.py [args...]
    python -m sklearn_rs [options] -m module [args...]

Options (before the script or ``-m``):
    -v, --verbose          log what is patched and every fallback to scikit-learn (stderr)
    --names NAME[,NAME]    patch only these names (default: all; see sklearn_rs.patch_sklearn)
    -h, --help             show this help

The script sees the same ``sys.argv``, ``sys.path[0]`` and ``__name__ == "__main__"`` as under
``python script.py`` (or ``python -m module``). Python processes it starts (joblib/loky
workers, multiprocessing, subprocesses) are patched too, through ``SKLEARN_RS_PATCH`` and a
start-up hook on ``PYTHONPATH``.
"""

import os
import runpy
import sys
import zipfile

USAGE = __doc__.split("\n\n")[1].strip("\n")


def _usage_error(message):
    print(f"python -m sklearn_rs: error: {message}\nusage:\n{USAGE}", file=sys.stderr)
    sys.exit(2)


def _parse(argv):
    verbose, names = False, None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            print(__doc__.strip())
            sys.exit(0)
        elif arg in ("-v", "--verbose"):
            verbose = True
        elif arg == "--names" or arg.startswith("--names="):
            if arg == "--names":
                i += 1
                if i == len(argv):
                    _usage_error("--names needs a value")
                value = argv[i]
            else:
                value = arg.partition("=")[2]
            names = [n.strip() for n in value.split(",") if n.strip()]
        elif arg == "-m":
            if i + 1 == len(argv):
                _usage_error("-m needs a module name")
            return verbose, names, ("module", argv[i + 1]), argv[i + 2:]
        elif arg == "--":
            i += 1
            break
        elif arg.startswith("-") and arg != "-":
            _usage_error(f"unknown option {arg!r}")
        else:
            break
        i += 1
    if i == len(argv):
        _usage_error("a script or -m module is required")
    return verbose, names, ("script", argv[i]), argv[i + 1:]


def main(argv=None):
    verbose, names, (kind, target), args = _parse(sys.argv[1:] if argv is None else argv)

    from sklearn_rs import _patch

    if verbose:
        _patch.enable_verbose_logging()
        os.environ[_patch.ENV_VERBOSE] = "1"
    try:
        _patch.patch_sklearn(names)
    except ValueError as exc:
        _usage_error(str(exc))
    _patch._export_to_children(names)

    if kind == "module":
        sys.argv = [target, *args]  # runpy puts the module's file name in argv[0], as python does
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        if not os.path.exists(target):
            print(f"python -m sklearn_rs: can't open file {target!r}", file=sys.stderr)
            sys.exit(2)
        sys.argv = [target, *args]
        if os.path.isdir(target) or zipfile.is_zipfile(target):
            del sys.path[0]  # run_path puts the directory or archive itself there, as python does
        else:
            sys.path[0] = os.path.dirname(os.path.realpath(target))
        runpy.run_path(target, run_name="__main__")


if __name__ == "__main__":
    main()
