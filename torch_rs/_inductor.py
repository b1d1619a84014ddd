"""What inductor (``torch.compile``'s default backend) does with the rs:: operators.

A custom operator is opaque to inductor: left as a call, it cannot be fused with the operations
around it, and a compiled model pays one extra pass over memory per neighbour that inductor would
otherwise have fused (a bias add before a GELU, a residual add before a norm). So every rs::
operator has a decomposition into the replaced module's own ops (``torch_rs._reference``) in
inductor's decomposition table, and a rule decides per call site, while the graph is traced,
whether the Rust kernel stays (an opaque call) or inductor gets those ops to fuse:

* ``"auto"`` (the default): the kernel stays where it measured faster inside compiled graphs
  (``KERNEL_WINS`` below, by operator, dtype and size), elsewhere inductor generates the code,
  so a patched model compiles to code at least as fast as the unpatched model's.
* ``"kernel"``: the kernels always stay (torch.compile then behaves as torch.export does).
* ``"decompose"``: inductor always generates the code.

Only inductor is affected: torch.export, ``aot_eager`` and other backends keep the operators.
The rule is applied when a graph is compiled; sizes it depends on become guards, so a dynamic
graph recompiles when a size crosses a threshold. Changing the policy affects graphs compiled
afterwards (``torch._dynamo.reset()`` drops the compiled ones).

torch.compile's on-disk caches key a compiled graph by the graph dynamo traced, which holds the
rs:: calls whatever the rule decides, so the policy and a fingerprint of the rule and the
decompositions join the key through ``torch.compiler.config.cache_key_tag``, after the user's own
tag: a graph compiled under one policy (or an older rule) is never served under another. A tag
the user sets later is kept; the policy is added back to it when the policy is next set or
inductor is first imported.

Importing inductor takes seconds, so the table entries (and the fallbacks inductor calls where
the kernel stays) are added when inductor's modules are first imported (or at once if they
already are), not when torch_rs is.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Iterator

import torch

from torch_rs import _reference

POLICIES = ("auto", "kernel", "decompose")
_policy = "auto"

_HALF = (torch.bfloat16, torch.float16)


def set_compile_policy(policy: str) -> None:
    """Sets what torch.compile's inductor does with the rs:: operators (see the module's text)."""
    global _policy
    if policy not in POLICIES:
        raise ValueError(f"compile policy must be one of {POLICIES}, but got {policy!r}")
    _policy = policy
    _tag_cache_key()


def get_compile_policy() -> str:
    return _policy


@contextlib.contextmanager
def compile_policy(policy: str) -> Iterator[None]:
    """``with torch_rs.compile_policy("kernel"): torch.compile(f)(x)``: the policy for the graphs
    compiled inside the block."""
    previous = _policy
    set_compile_policy(policy)
    try:
        yield
    finally:
        set_compile_policy(previous)


# Where the Rust kernel beats inductor's own code inside a compiled graph: per operator family,
# the largest input (bytes of the tensor named) up to which the kernel is kept, for single
# precision and for the half types. benchmarks/bench_compile.py (CPU time, one thread, float32
# and bfloat16, 64K to 16M elements, forward and forward + backward) found inductor's code as
# fast or faster in every case but scattered ones within its ±20% noise (the forward-only
# kernels alone are up to 1.3x faster, but fusion and the backward take it back), so no size
# keeps a kernel yet.
KERNEL_WINS: dict[str, dict[str, int]] = {
    "gelu": {"float": 0, "half": 0},
    "glu": {"float": 0, "half": 0},
    "rms_norm": {"float": 0, "half": 0},
    "rope": {"float": 0, "half": 0},
    "cross_entropy": {"float": 0, "half": 0},
}


def keeps_kernel(family: str, x: torch.Tensor) -> bool:
    """Whether the rs:: kernel stays in the compiled graph for input x (may add a size guard)."""
    if _policy != "auto":
        return _policy == "kernel"
    limit = KERNEL_WINS[family]["half" if x.dtype in _HALF else "float"]
    if limit <= 0:
        return False
    return bool(x.numel() * x.element_size() <= limit)


_TAG_MARK = "|torch_rs.compile_policy="


@functools.cache
def _rule_fingerprint() -> str:
    """A hash of what decides the compiled code: the sizes above and the decompositions' code."""
    digest = hashlib.sha256(repr(sorted(KERNEL_WINS.items())).encode())
    for module in (sys.modules[__name__], _reference):
        with open(module.__file__, "rb") as source:
            digest.update(source.read())
    return digest.hexdigest()[:16]


def _tag_cache_key() -> None:
    """Puts the policy into the key of torch.compile's on-disk caches, after the user's tag."""
    config = torch.compiler.config
    users_tag = config.cache_key_tag.split(_TAG_MARK)[0]
    config.cache_key_tag = f"{users_tag}{_TAG_MARK}{_policy}:{_rule_fingerprint()}"


def _decomposition(family, reference, selector=lambda *args: args[0]):
    def decompose(*args, **kwargs):
        if keeps_kernel(family, selector(*args)):
            return NotImplemented
        return reference(*args, **kwargs)

    decompose.__name__ = f"rs_{reference.__name__}"
    return decompose


def _decompositions() -> dict:
    rs = torch.ops.rs
    ref = _reference
    by_grad = lambda grad, *rest: grad  # noqa: E731  (backward ops: the size of the gradient)
    return {
        rs.fast_gelu.default: _decomposition("gelu", ref.fast_gelu),
        rs.fast_gelu_backward.default: _decomposition("gelu", ref.fast_gelu_backward),
        rs.silu_mul.default: _decomposition("glu", ref.silu_mul),
        rs.silu_mul_backward.default: _decomposition("glu", ref.silu_mul_backward, by_grad),
        rs.gelu_tanh_mul.default: _decomposition("glu", ref.gelu_tanh_mul),
        rs.gelu_tanh_mul_backward.default: _decomposition(
            "glu", ref.gelu_tanh_mul_backward, by_grad),
        rs.rms_norm.default: _decomposition("rms_norm", ref.rms_norm),
        rs.rms_norm_forward.default: _decomposition("rms_norm", ref.rms_norm_forward),
        rs.add_rms_norm.default: _decomposition("rms_norm", ref.add_rms_norm),
        rs.add_rms_norm_forward.default: _decomposition("rms_norm", ref.add_rms_norm_forward),
        rs.rms_norm_backward.default: _decomposition("rms_norm", ref.rms_norm_backward, by_grad),
        rs.rope.default: _decomposition("rope", ref.rope),
        rs.rope_backward.default: _decomposition("rope", ref.rope_backward, by_grad),
        rs.cross_entropy.default: _decomposition("cross_entropy", ref.cross_entropy),
        rs.cross_entropy_forward.default: _decomposition(
            "cross_entropy", ref.cross_entropy_forward),
        rs.cross_entropy_backward.default: _decomposition(
            "cross_entropy", ref.cross_entropy_backward, lambda grad, input, *rest: input),
    }


def _register_decompositions(module) -> None:
    """Adds the decompositions to inductor's table (and drops its cached copy of the table)."""
    module.decompositions.update(_decompositions())
    module.fast_random_decomps.cache_clear()
    _tag_cache_key()


def _register_fallbacks(module) -> None:
    """Where a decomposition keeps the kernel, inductor calls the operator as it calls any
    custom operator without a lowering (an implicit fallback, with the operator's layout
    constraint); registered up front, since inductor refuses to create a fallback for an
    operator that has a decomposition."""
    from torch._library.utils import get_layout_constraint_tag

    for op in _decompositions():
        if op not in module.lowerings:
            constraint = module.tag_to_layout_constraint(
                get_layout_constraint_tag(op, with_default=True))
            module.make_fallback(op, layout_constraint=constraint, warn=False,
                                 override_decomp=True)


# Inductor's modules, and what to register in each once it is imported.
_REGISTRATIONS = {
    "torch._inductor.decomposition": _register_decompositions,
    "torch._inductor.lowering": _register_fallbacks,
}


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Runs a module's registration right after the module is first imported."""

    def find_spec(self, name, path, target=None):
        register = _REGISTRATIONS.get(name)
        if register is None:
            return None
        sys.meta_path.remove(self)  # find the module's real spec
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is not None and spec.loader is not None:
            spec.loader = _LoaderThenRegister(spec.loader, register)
        return spec


class _LoaderThenRegister(importlib.abc.Loader):
    def __init__(self, loader, register):
        self._loader = loader
        self._register = register

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._register(module)


def install() -> None:
    """Registers with the inductor modules already imported, and hooks the imports of the
    others."""
    _tag_cache_key()
    pending = False
    for name, register in _REGISTRATIONS.items():
        module = sys.modules.get(name)
        if module is not None:
            register(module)
        else:
            pending = True
    if pending and not any(isinstance(f, _RegisterAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())
