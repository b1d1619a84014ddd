"""What inductor does with the rs:: operators (torch_rs._inductor): the decompositions compute
what the operators compute, the policy decides per call site, compiled graphs under each policy
give the eager results, and the decompositions reach inductor's table whatever the import order."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from op_db import DTYPES, HALF_DTYPES, OP_DB, assert_within, tensors_of
from torch._inductor.utils import run_and_get_code

import torch_rs
from torch_rs import _inductor, _reference

# Every operator with a decomposition (the out= overload and the GELU's second derivative,
# which only a double backward calls, stay kernels under every policy).
DECOMPOSED = [
    pytest.param(overload, id=overload.op._schema.name.removeprefix("rs::"))
    for info in OP_DB
    for overload in info.overloads
    if hasattr(_reference, overload.op._opname)
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("overload", DECOMPOSED)
def test_decomposition_computes_what_the_operator_computes(overload, dtype):
    reference = getattr(_reference, overload.op._opname)
    for sample in overload.sample_inputs(dtype, False):
        ours = tensors_of(overload.op(*sample.args))
        decomposed = tensors_of(reference(*sample.args))
        assert len(decomposed) == len(ours), sample.name
        for a, d in zip(ours, decomposed, strict=True):
            assert (d.dtype, d.shape) == (a.dtype, a.shape), sample.name
            if a.numel() == 0:
                continue
            if a.dtype in HALF_DTYPES:
                # The decomposition rounds where the module's autograd rounds (the gradient
                # reaching a half-type cast); the kernels keep float32 there. Backward
                # differences cancel, so the bound is a few roundings of the largest element.
                eps = torch.finfo(a.dtype).eps
                torch.testing.assert_close(d, a, rtol=2 * eps, atol=4 * eps * a.abs().max(),
                                           msg=sample.name)
            else:
                assert_within(d, a, overload.tolerance[a.dtype])


def _compiled_block(info, policy):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), info.module(32), torch.nn.Linear(32, 8))
    with torch_rs.compile_policy(policy):
        compiled = torch.compile(model, fullgraph=True, dynamic=True)
        x = torch.randn(5, 8, requires_grad=True)
        with torch._inductor.config.patch(force_disable_caches=True):
            (y, grad), codes = run_and_get_code(
                lambda: (lambda y: (y, torch.autograd.grad(y.sum(), x)[0]))(compiled(x))
            )
    return model, x, y, grad, "\n".join(codes)


@pytest.mark.parametrize("info", [pytest.param(i, id=i.name) for i in OP_DB])
def test_decompose_policy_compiles_the_reference_ops_with_the_eager_results(info):
    torch._dynamo.reset()
    model, x, y, grad, code = _compiled_block(info, "decompose")
    expected = model(x)
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(grad, torch.autograd.grad(expected.sum(), x)[0])
    assert "torch.ops.rs." not in code


def test_policy_names_and_context_manager():
    assert torch_rs.get_compile_policy() == "auto"
    with torch_rs.compile_policy("kernel"):
        assert torch_rs.get_compile_policy() == "kernel"
        with pytest.raises(ValueError, match="compile policy must be one of"):
            torch_rs.set_compile_policy("fast")
        assert torch_rs.get_compile_policy() == "kernel"
    assert torch_rs.get_compile_policy() == "auto"


def test_auto_policy_keeps_the_kernel_up_to_the_measured_size(monkeypatch):
    monkeypatch.setitem(_inductor.KERNEL_WINS, "gelu", {"float": 4096, "half": 0})
    assert _inductor.keeps_kernel("gelu", torch.empty(1024, device="meta"))
    assert not _inductor.keeps_kernel("gelu", torch.empty(1025, device="meta"))
    assert not _inductor.keeps_kernel("gelu", torch.empty(8, dtype=torch.bfloat16, device="meta"))
    with torch_rs.compile_policy("kernel"):
        assert _inductor.keeps_kernel("gelu", torch.empty(1 << 20, device="meta"))
    with torch_rs.compile_policy("decompose"):
        assert not _inductor.keeps_kernel("gelu", torch.empty(8, device="meta"))


def _run_and_get_new_code(fn, *args):
    """run_and_get_code without its torch._dynamo.reset(): the code of what this call compiles."""
    from unittest import mock

    from torch._inductor.graph import GraphLowering

    codes = []
    with mock.patch.object(GraphLowering, "save_output_code", codes.append):
        result = fn(*args)
    return result, codes


def test_auto_policy_recompiles_a_dynamic_graph_when_a_size_crosses_the_threshold(monkeypatch):
    from torch._dynamo.testing import CompileCounterWithBackend

    monkeypatch.setitem(_inductor.KERNEL_WINS, "gelu", {"float": 4 * 4096, "half": 0})
    torch._dynamo.reset()
    counter = CompileCounterWithBackend("inductor")
    compiled = torch.compile(lambda x: torch_rs.fast_gelu(x) * 2.0, backend=counter,
                             dynamic=True)
    compiles, codes = [], {}
    with torch._inductor.config.patch(force_disable_caches=True):
        for n in (1000, 4096, 5000, 9000):
            x = torch.randn(n)
            y, code = _run_and_get_new_code(compiled, x)
            torch.testing.assert_close(y, torch.nn.functional.gelu(x, approximate="tanh") * 2.0)
            compiles.append(counter.frame_count)
            codes[n] = "\n".join(code)
    # Compiled once below the threshold (kernel kept), once above (inductor's own GELU).
    assert compiles == [1, 1, 2, 2]
    assert "torch.ops.rs.fast_gelu" in codes[1000]
    assert "torch.ops.rs.fast_gelu" not in codes[5000]


_IMPORT_ORDER = """
import sys, torch
{first}
{second}
from torch._inductor import decomposition, lowering
op = torch.ops.rs.rms_norm.default
print(op in decomposition.decompositions, op in decomposition.select_decomp_table(),
      op in lowering.lowerings)
"""


@pytest.mark.parametrize("inductor_first", [False, True], ids=["torch_rs_first", "inductor_first"])
def test_decompositions_reach_inductor_whatever_the_import_order(inductor_first):
    first, second = "import torch_rs", "import torch._inductor.lowering"
    if inductor_first:
        # Inductor imported and its table cached before torch_rs is imported.
        first, second = ("import torch._inductor.lowering, torch._inductor.decomposition as d; "
                         "d.select_decomp_table()",
                         "import torch_rs")
    code = _IMPORT_ORDER.format(first=first, second=second)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True", "True"]


def test_export_keeps_the_operators_whatever_the_policy():
    x = torch.randn(4, 16)
    with torch_rs.compile_policy("decompose"):
        program = torch.export.export(torch_rs.nn.FastGELU(), (x,))
    assert "rs.fast_gelu" in str(program.graph)


_CACHED_COMPILES = """
import torch, torch_rs
from torch.profiler import profile

weight = torch.ones(64)
x = torch.randn(8, 64)
for policy in {policies}:
    torch._dynamo.reset()  # what a new process starts from; the on-disk caches stay
    with torch_rs.compile_policy(policy):
        compiled = torch.compile(lambda x: torch.ops.rs.rms_norm(x, weight, 1e-6))
        compiled(x)
    with profile() as run:
        compiled(x)
    print(policy, any(e.name == "rs::rms_norm" for e in run.events()))
print(repr(torch.compiler.config.cache_key_tag))
"""


def test_on_disk_compile_caches_never_serve_a_graph_compiled_under_another_policy(tmp_path):
    # torch.compile's caches key a graph by the graph dynamo traced, which holds the rs:: call
    # under every policy: without the policy in the key, the second compile below would be
    # served the first one's code.
    code = _CACHED_COMPILES.format(policies=("kernel", "decompose", "kernel", "auto"))
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(tmp_path),
               TORCH_COMPILE_CACHE_KEY_TAG="users-tag")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    *runs, tag = proc.stdout.splitlines()
    assert runs == ["kernel True", "decompose False", "kernel True", "auto False"]
    assert tag.startswith("'users-tag|torch_rs.compile_policy=auto:"), tag
