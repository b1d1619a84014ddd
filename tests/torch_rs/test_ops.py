"""Every operator of op_db.OP_DB through PyTorch's machinery: opcheck, gradcheck, torch.compile,
torch.export, TorchScript, vmap, inference mode, out=, values and layouts against float64
references, thread counts, concurrency, memory, errors and the module swap."""

from __future__ import annotations

import os
import threading

import pytest
import torch
from op_db import (
    DTYPES,
    HALF_DTYPES,
    OP_DB,
    assert_half_matches,
    assert_within,
    check_values,
    map_tensors,
    significant_strides,
    tensors_of,
)
from torch._inductor.utils import run_and_get_code
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.library import opcheck

import torch_rs

OVERLOADS = [
    pytest.param(info, overload, id=overload.op._schema.name.removeprefix("rs::"))
    for info in OP_DB
    for overload in info.overloads
]
OPS = [pytest.param(info, id=info.name) for info in OP_DB]


def _sample(overload, name, dtype=torch.float32, requires_grad=False):
    return next(s for s in overload.sample_inputs(dtype, requires_grad) if s.name == name)


def _equal(a, b) -> bool:
    """Same tensors (an op's result may be a tuple)."""
    a, b = tensors_of(a), tensors_of(b)
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


_map_tensors = map_tensors


# ---- opcheck ---------------------------------------------------------------------------------

# (dtype, requires_grad, layout): every dtype, dense and strided, 0-dim and empty.
OPCHECK_CASES = [
    (torch.float32, True, "contiguous"),
    (torch.float64, True, "transposed"),
    (torch.float32, False, "sliced"),
    (torch.float32, False, "channels_last"),
    (torch.bfloat16, True, "contiguous"),
    (torch.float16, False, "contiguous"),
    (torch.float64, True, "zero_dim"),
    (torch.float32, False, "empty"),
]


OPCHECK_PARAMS = [
    pytest.param(
        info,
        overload,
        case,
        id=f"{overload.op._schema.name.removeprefix('rs::')}-{str(case[0])[6:]}-{case[2]}",
    )
    for info in OP_DB
    for overload in info.overloads
    for case in (info.opcheck_cases or OPCHECK_CASES)
]


@pytest.mark.parametrize("info, overload, case", OPCHECK_PARAMS)
def test_opcheck(info, overload, case):
    dtype, requires_grad, name = case
    requires_grad = requires_grad and overload.differentiable
    opcheck(overload.op, _sample(overload, name, dtype, requires_grad).args)


@pytest.mark.parametrize("info", [p for p in OPS if p.values[0].out is not None])
def test_opcheck_out_overload(info):
    args = _sample(info.overloads[0], "contiguous").args
    out = torch.empty_like(info.op(*args))
    opcheck(info.out, args, {"out": out}, test_utils=("test_schema", "test_faketensor"))


# ---- autograd --------------------------------------------------------------------------------


@pytest.mark.parametrize("info", OPS)
def test_gradcheck_and_gradgradcheck_float64(info):
    for sample in info.grad_samples():
        assert torch.autograd.gradcheck(info.op, sample.args), sample.name
        if info.supports_gradgrad:
            assert torch.autograd.gradgradcheck(info.op, sample.args), sample.name


@pytest.mark.parametrize("info", OPS)
def test_requires_grad_flags_and_no_grad(info):
    args = _sample(info.overloads[0], "contiguous", requires_grad=True).args
    assert all(t.requires_grad for t in tensors_of(info.op(*args)))
    with torch.no_grad():
        assert not any(t.requires_grad for t in tensors_of(info.op(*args)))


@pytest.mark.parametrize("info", OPS)
def test_inference_mode(info):
    args = _sample(info.overloads[0], "contiguous").args
    expected = info.op(*args)
    with torch.inference_mode():
        result = info.op(*args)
        if info.out is not None:
            out = torch.empty_like(expected)
            info.out(*args, out=out)
    assert all(t.is_inference() for t in tensors_of(result))
    assert _equal(result, expected)
    if info.out is not None:
        assert torch.equal(out, expected)


# ---- torch.compile, torch.export, TorchScript --------------------------------------------------


class _Block(torch.nn.Module):
    def __init__(self, activation: torch.nn.Module):
        super().__init__()
        self.up = torch.nn.Linear(8, 32)
        self.act = activation
        self.down = torch.nn.Linear(32, 8)

    def forward(self, x):
        return self.down(self.act(self.up(x)))


@pytest.mark.parametrize("info", OPS)
def test_compile_fullgraph_dynamic_forward_and_backward(info):
    torch.manual_seed(0)
    model = _Block(info.module(32))
    compiled = torch.compile(model, fullgraph=True, dynamic=True)
    inputs = [torch.randn(batch, 8, requires_grad=True) for batch in (3, 5, 9)]

    def run():
        results = []
        for x in inputs:
            y = compiled(x)
            results.append((y, *torch.autograd.grad(y.sum(), x)))
        return results

    # Without caches, so that the generated code is seen (and shows the op was kept: the
    # "kernel" policy; test_compile_policy.py covers the decompositions).
    with torch._inductor.config.patch(force_disable_caches=True), torch_rs.compile_policy("kernel"):
        results, codes = run_and_get_code(run)
    for x, (y, grad) in zip(inputs, results):
        expected = model(x)
        torch.testing.assert_close(y, expected)
        torch.testing.assert_close(grad, torch.autograd.grad(expected.sum(), x)[0])
    for op in info.compiled_ops:
        assert any(op in code for code in codes), f"{op} is not in the compiled code"


@pytest.mark.parametrize("info", OPS)
def test_export(info):
    torch.manual_seed(0)
    model = _Block(info.module(32)).eval()
    batch = torch.export.Dim("batch")
    exported = torch.export.export(model, (torch.randn(4, 8),), dynamic_shapes=({0: batch},))
    assert f"torch.ops.{info.op}" in exported.graph_module.code
    y = torch.randn(7, 8)
    torch.testing.assert_close(exported.module()(y), model(y))


@pytest.mark.parametrize("info", OPS)
def test_torchscript_script_and_trace(info):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), info.module(4))
    x = torch.randn(2, 3)
    for converted in (torch.jit.script(model), torch.jit.trace(model, x)):
        torch.testing.assert_close(converted(x), model(x))
    assert info.op._schema.name in str(torch.jit.script(model).inlined_graph)


# ---- vmap ------------------------------------------------------------------------------------


def _stack_results(results):
    parts = [tensors_of(r) for r in results]
    stacked = [torch.stack(p) for p in zip(*parts)]
    return stacked[0] if len(stacked) == 1 else tuple(stacked)


def _per_sample(fn, args, in_dims):
    """fn on each sample of the batch, stacked: what vmap must give."""
    size = next(a.shape[d] for a, d in zip(args, in_dims) if d is not None)
    return _stack_results(
        fn(*(a if d is None else a.select(d, i) for a, d in zip(args, in_dims)))
        for i in range(size)
    )


@pytest.mark.parametrize(
    "info, overload", [p for p in OVERLOADS if p.values[1].torch_equivalent is not None]
)
def test_vmap(info, overload):
    if overload.vmap_samples is not None:
        for args, in_dims in overload.vmap_samples():
            result = torch.vmap(overload.op, in_dims=in_dims)(*args)
            expected = _per_sample(overload.torch_equivalent, args, in_dims)
            torch.testing.assert_close(result, expected, msg=f"in_dims={in_dims}")
        return
    args = _sample(overload, "contiguous").args  # 3-D
    for dim in range(args[0].dim()):
        result = torch.vmap(overload.op, in_dims=dim)(*args)
        expected = overload.torch_equivalent(*args).movedim(dim, 0)
        torch.testing.assert_close(result, expected, msg=f"in_dims={dim}")
    if len(args) > 1:
        # Only the last input batched.
        fixed = tuple(a[0] for a in args[:-1])
        dims = (None,) * len(fixed) + (0,)
        result = torch.vmap(overload.op, in_dims=dims)(*fixed, args[-1])
        expanded = (a.expand_as(args[-1]) for a in fixed)
        torch.testing.assert_close(result, overload.torch_equivalent(*expanded, args[-1]))


@pytest.mark.parametrize("info", OPS)
def test_vmap_of_grad(info):
    torch_op = info.overloads[0].torch_equivalent
    if info.overloads[0].vmap_samples is not None:
        # Per-sample gradients of the first input, every output summed.
        def total(fn):
            return lambda *a: sum(t.sum() for t in tensors_of(fn(*a)))

        for args, in_dims in info.overloads[0].vmap_samples():
            args = _map_tensors(lambda t: t.double() if t.is_floating_point() else t, args)
            ours = torch.func.vmap(torch.func.grad(total(info.op)), in_dims=in_dims)(*args)
            theirs = torch.func.vmap(torch.func.grad(total(torch_op)), in_dims=in_dims)(*args)
            torch.testing.assert_close(ours, theirs, msg=f"in_dims={in_dims}")
        return
    x = _sample(info.overloads[0], "contiguous", torch.float64).args
    per_sample = torch.func.vmap(torch.func.grad(lambda *a: info.op(*a).sum()))(*x)
    expected = torch.func.vmap(torch.func.grad(lambda *a: torch_op(*a).sum()))(*x)
    torch.testing.assert_close(per_sample, expected)


# ---- out= ------------------------------------------------------------------------------------


@pytest.mark.parametrize("info", [p for p in OPS if p.values[0].out is not None])
def test_out_overload(info):
    args = _sample(info.overloads[0], "contiguous").args
    expected = info.op(*args)
    out = torch.empty_like(expected)
    version = out._version
    assert info.out(*args, out=out) is out
    assert out._version > version
    assert torch.equal(out, expected)
    # A non-contiguous out is written in place at its own strides (through the packet too).
    reversed_dims = tuple(reversed(range(expected.dim())))
    out_t = torch.zeros(expected.shape[::-1]).permute(reversed_dims)
    info.op.overloadpacket(*args, out=out_t)
    assert torch.equal(out_t, expected)
    # In place: out is the first input.
    inplace = args[0].clone()
    info.out(inplace, *args[1:], out=inplace)
    assert torch.equal(inplace, expected)
    # A wrongly shaped out is resized (with torch's deprecation warning when it was not empty).
    for out in (torch.empty(0), torch.empty(3)):
        info.out(*args, out=out)
        assert torch.equal(out, expected)


# ---- values and layouts ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d)[6:])
@pytest.mark.parametrize("info, overload", OVERLOADS)
def test_values_and_layouts(info, overload, dtype):
    """float32/float64 within the op's bound of a float64 reference; half types the float32
    result rounded once; outputs shaped and laid out as torch's own op lays them out."""
    for sample in overload.sample_inputs(dtype, False):
        where = f"{sample.name}: "
        ours = check_values(overload, sample.args, dtype, where)
        if overload.torch_equivalent is not None and sample.torch_layout:
            theirs = tensors_of(overload.torch_equivalent(*sample.args))
            for a, t in zip(ours, theirs, strict=True):
                assert a.shape == t.shape, where
                assert significant_strides(a) == significant_strides(t), where


@pytest.mark.parametrize("info, overload", OVERLOADS)
def test_fake_and_meta_kernels_match_eager(info, overload):
    """The fake kernels give every sample the shape, dtype and strides of the CPU kernel."""
    for dtype in (torch.float32, torch.bfloat16):
        for sample in overload.sample_inputs(dtype, False):
            eager = tensors_of(overload.op(*sample.args))
            with FakeTensorMode() as mode:
                fake = overload.op(*_map_tensors(mode.from_tensor, sample.args))
            meta_args = _map_tensors(
                lambda a: torch.empty_strided(a.shape, a.stride(), dtype=a.dtype, device="meta"),
                sample.args,
            )
            meta = overload.op(*meta_args)
            for result in (fake, meta):
                for r, e in zip(tensors_of(result), eager, strict=True):
                    assert r.shape == e.shape, sample.name
                    assert r.dtype == e.dtype, sample.name
                    assert significant_strides(r) == significant_strides(e), sample.name


# ---- threads, concurrency, memory --------------------------------------------------------------


@pytest.mark.parametrize("info, overload", OVERLOADS)
def test_results_do_not_depend_on_thread_count(info, overload):
    for dtype in (torch.float32, torch.bfloat16):
        samples = overload.sample_inputs(dtype, False, large=True)
        results = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            results.append([overload.op(*s.args) for s in samples])
        for other in results[1:]:
            for sample, a, b in zip(samples, results[0], other):
                assert _equal(a, b), f"{dtype} {sample.name}"


@pytest.mark.parametrize("info", OPS)
def test_concurrent_calls_from_python_threads(info):
    samples = info.overloads[0].sample_inputs(torch.float32, False, large=True)
    samples += info.overloads[0].sample_inputs(torch.float32, False)
    inputs = [s.args for s in samples if s.args[0].numel() >= 1000][:8]
    expected = [info.op(*args) for args in inputs]
    failures = []

    def worker(index):
        for _ in range(20):
            if not _equal(info.op(*inputs[index]), expected[index]):
                failures.append(index)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def _rss_bytes():
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
@pytest.mark.parametrize("info", OPS)
def test_no_memory_growth_over_many_calls(info):
    dense = info.overloads[0].sample_inputs(torch.float32, True, large=True)[0]
    # Every other element along the first dimension of the inputs that share the first's.
    first = dense.args[0].shape[0]
    strided = _map_tensors(
        lambda a: a.detach()[::2] if a.dim() and a.shape[0] == first else a.detach(), dense.args
    )
    error = next(iter(info.error_inputs()))

    def calls(n):
        for _ in range(n):
            y = sum(t.sum() for t in tensors_of(info.op(*dense.args)))
            y.backward()
            info.op(*strided)
            try:
                error.call()
            except error.error:
                pass
        for a in dense.args:
            if isinstance(a, torch.Tensor):
                a.grad = None

    calls(20)
    before = _rss_bytes()
    calls(300)
    growth = _rss_bytes() - before
    # 300 iterations allocate gigabytes in total; anything leaked per call would show here.
    assert growth < 64 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB"


# ---- errors ----------------------------------------------------------------------------------

ERRORS = [
    pytest.param(info, error, id=f"{info.name}-{error.name}")
    for info in OP_DB
    for error in info.error_inputs()
]


@pytest.mark.parametrize("info, error", ERRORS)
def test_error_inputs(info, error):
    with pytest.raises(error.error, match=error.match):
        error.call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("info", OPS)
def test_cuda_is_not_implemented_and_names_the_device(info):
    args = _map_tensors(torch.Tensor.cuda, _sample(info.overloads[0], "contiguous").args)
    with pytest.raises(NotImplementedError, match="cuda"):
        info.op(*args)
    with pytest.raises(NotImplementedError, match="cuda"):
        tensors_of(info.op(*_map_tensors(torch.Tensor.requires_grad_, args)))[0].sum().backward()


# ---- module drop-in --------------------------------------------------------------------------


@pytest.mark.parametrize("info", [p for p in OPS if p.values[0].patched_module is not None])
def test_patch_model_swaps_in_the_drop_in(info):
    torch.manual_seed(0)
    original = info.patched_module(16)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), original, torch.nn.Linear(16, 4))
    x = torch.randn(5, 6)

    def outputs_and_grads():
        model.zero_grad()
        y = model(x)
        y.square().sum().backward()
        return y.detach(), [p.grad.clone() for p in model.parameters()]

    expected = outputs_and_grads()
    keys = list(model.state_dict())
    parameters = [id(p) for p in model.parameters()]
    assert torch_rs.patch_model(model) == 1
    assert type(model[1]) is type(info.module(16))
    assert list(model.state_dict()) == keys
    assert [id(p) for p in model.parameters()] == parameters
    torch.testing.assert_close(outputs_and_grads(), expected)
    assert torch_rs.unpatch_model(model) == 1
    assert model[1] is original
