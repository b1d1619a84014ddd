"""Start-up hook for Python processes launched under ``python -m sklearn_rs``.

The runner puts this directory first on ``PYTHONPATH`` and sets ``SKLEARN_RS_PATCH``, so every
Python child (joblib/loky workers, multiprocessing "spawn" children, subprocesses) imports this
module at start-up and patches scikit-learn before running any user code. A ``sitecustomize``
that this one shadows is still run. Processes where sklearn_rs cannot be imported (another
interpreter) start normally, unpatched.
"""

import os
import sys


def _run_shadowed_sitecustomize():
    here = os.path.dirname(os.path.abspath(__file__))
    this = sys.modules.pop("sitecustomize", None)
    saved_path = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    try:
        import sitecustomize  # noqa: F401  (the next one on sys.path, if any)
    except ModuleNotFoundError as exc:
        if exc.name != "sitecustomize":
            raise
    finally:
        sys.path[:] = saved_path
        if this is not None and "sitecustomize" not in sys.modules:
            sys.modules["sitecustomize"] = this


def _patch():
    if not os.environ.get("SKLEARN_RS_PATCH"):
        return
    try:
        from sklearn_rs._patch import patch_from_environment
    except ImportError:
        return  # not an interpreter with sklearn_rs installed
    patch_from_environment()


_run_shadowed_sitecustomize()
_patch()
