"""rs::fast_gelu in PyTorch's machinery: opcheck, autograd, compile, export, vmap, out=, threads,
errors and memory."""

import os
import threading

import pytest
import torch
import torch.nn.functional as F
from torch.library import opcheck

import torch_rs


def opcheck_inputs():
    g = torch.Generator().manual_seed(0)
    return [
        torch.randn(3, 5, generator=g, requires_grad=True),
        torch.randn(3, 5, generator=g, dtype=torch.float64).t().requires_grad_(),
        torch.randn(4, 6, generator=g)[:, ::2],
        torch.randn(2, 3, 4, 5, generator=g).to(memory_format=torch.channels_last),
        torch.randn(7, generator=g).to(torch.bfloat16).requires_grad_(),
        torch.randn(7, generator=g).to(torch.float16),
        torch.randn((), generator=g, dtype=torch.float64, requires_grad=True),
        torch.randn(0, 3, generator=g),
    ]


@pytest.mark.parametrize("x", opcheck_inputs(), ids=lambda x: f"{x.dtype}-{tuple(x.shape)}")
def test_opcheck_forward(x):
    opcheck(torch.ops.rs.fast_gelu.default, (x,))


@pytest.mark.parametrize("x", opcheck_inputs()[:5], ids=lambda x: f"{x.dtype}-{tuple(x.shape)}")
def test_opcheck_backward_and_second_derivative(x):
    grad = torch.randn(x.shape, dtype=x.dtype, requires_grad=x.requires_grad)
    opcheck(torch.ops.rs.fast_gelu_backward.default, (grad, x.detach().requires_grad_(x.requires_grad)))
    opcheck(torch.ops.rs.fast_gelu_second_derivative.default, (x.detach(),))


def test_opcheck_out_overload():
    x = torch.randn(4, 3)
    opcheck(torch.ops.rs.fast_gelu.out, (x,), {"out": torch.empty(4, 3)},
            test_utils=("test_schema", "test_faketensor"))


def test_gradcheck_and_gradgradcheck_float64():
    x = torch.randn(4, 6, dtype=torch.float64).mul(3).requires_grad_()
    assert torch.autograd.gradcheck(torch.ops.rs.fast_gelu, (x,))
    assert torch.autograd.gradgradcheck(torch.ops.rs.fast_gelu, (x,))
    xt = torch.randn(6, 4, dtype=torch.float64).t().requires_grad_()
    assert torch.autograd.gradcheck(torch.ops.rs.fast_gelu, (xt,))
    assert torch.autograd.gradgradcheck(torch.ops.rs.fast_gelu, (xt,))


def test_double_backward_matches_torch():
    x = torch.linspace(-6, 6, 101, dtype=torch.float64, requires_grad=True)
    results = []
    for fn in (torch.ops.rs.fast_gelu, lambda t: F.gelu(t, approximate="tanh")):
        (first,) = torch.autograd.grad(fn(x).pow(2).sum(), x, create_graph=True)
        (second,) = torch.autograd.grad(first.sum(), x)
        results.append((first, second))
    torch.testing.assert_close(results[0], results[1], rtol=1e-10, atol=1e-12)


def test_third_derivative_is_a_clear_error():
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    (first,) = torch.autograd.grad(torch.ops.rs.fast_gelu(x).sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), x, create_graph=True)
    with pytest.raises(NotImplementedError, match="beyond the second"):
        torch.autograd.grad(second.sum(), x)


class _Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.up = torch.nn.Linear(8, 32)
        self.act = torch_rs.nn.FastGELU()
        self.down = torch.nn.Linear(32, 8)

    def forward(self, x):
        return self.down(self.act(self.up(x)))


def test_compile_fullgraph_dynamic_forward_and_backward():
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = _Block()
    compiled = torch.compile(model, fullgraph=True, dynamic=True)
    for batch in (3, 5, 9):
        x = torch.randn(batch, 8, requires_grad=True)
        expected = model(x)
        (expected_grad,) = torch.autograd.grad(expected.sum(), x)
        actual = compiled(x)
        (actual_grad,) = torch.autograd.grad(actual.sum(), x)
        torch.testing.assert_close(actual, expected)
        torch.testing.assert_close(actual_grad, expected_grad)


def test_compile_keeps_the_op_in_the_graph():
    torch._dynamo.reset()
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    fn = torch.compile(lambda t: torch_rs.fast_gelu(t) * 2, backend=backend, fullgraph=True, dynamic=True)
    x = torch.randn(10)
    torch.testing.assert_close(fn(x), 2 * F.gelu(x, approximate="tanh"))
    assert "rs.fast_gelu" in graphs[0].code


def test_export():
    torch.manual_seed(0)
    model = _Block().eval()
    x = torch.randn(4, 8)
    batch = torch.export.Dim("batch")
    exported = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
    assert "rs.fast_gelu" in exported.graph_module.code
    y = torch.randn(7, 8)
    torch.testing.assert_close(exported.module()(y), model(y))


def test_torchscript_script_and_trace():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch_rs.nn.FastGELU())
    x = torch.randn(2, 3)
    for converted in (torch.jit.script(model), torch.jit.trace(model, x)):
        torch.testing.assert_close(converted(x), model(x))
    assert "rs::fast_gelu" in str(torch.jit.script(model).inlined_graph)


def test_vmap():
    x = torch.randn(4, 5, 6)
    for in_dims in (0, 1, 2):
        out = torch.vmap(torch_rs.fast_gelu, in_dims=in_dims)(x)
        torch.testing.assert_close(out, F.gelu(x, approximate="tanh").movedim(in_dims, 0))
    grad = torch.randn(5, 6)
    batched = torch.vmap(torch.ops.rs.fast_gelu_backward, in_dims=(None, 0))(grad, x)
    torch.testing.assert_close(batched, torch.ops.aten.gelu_backward(grad.expand(4, 5, 6), x, approximate="tanh"))


def test_vmap_of_grad():
    x = torch.randn(4, 5, dtype=torch.float64)
    per_sample = torch.func.vmap(torch.func.grad(lambda t: torch_rs.fast_gelu(t).sum()))(x)
    expected = torch.ops.aten.gelu_backward(torch.ones_like(x), x, approximate="tanh")
    torch.testing.assert_close(per_sample, expected)


def test_inference_mode():
    x = torch.randn(100)
    with torch.inference_mode():
        y = torch_rs.fast_gelu(x)
        out = torch.empty(100)
        torch_rs.fast_gelu(x, out=out)
    assert y.is_inference()
    torch.testing.assert_close(y, F.gelu(x, approximate="tanh"))
    torch.testing.assert_close(out, y)


def test_no_grad_and_requires_grad_flags():
    x = torch.randn(10, requires_grad=True)
    assert torch_rs.fast_gelu(x).requires_grad
    with torch.no_grad():
        assert not torch_rs.fast_gelu(x).requires_grad


def test_out_overload():
    x = torch.randn(6, 7)
    out = torch.empty(6, 7)
    version = out._version
    result = torch_rs.fast_gelu(x, out=out)
    assert result is out
    assert out._version > version
    torch.testing.assert_close(out, F.gelu(x, approximate="tanh"))
    # A non-contiguous out is written in place at its own strides.
    out_t = torch.zeros(7, 6).t()
    torch.ops.rs.fast_gelu(x, out=out_t)
    torch.testing.assert_close(out_t, F.gelu(x, approximate="tanh"))
    # In place: out is the input.
    y = x.clone()
    torch.ops.rs.fast_gelu(y, out=y)
    torch.testing.assert_close(y, F.gelu(x, approximate="tanh"))
    # A wrongly shaped out is resized (with torch's deprecation warning when it was not empty).
    for out in (torch.empty(0), torch.empty(3)):
        torch_rs.fast_gelu(x, out=out)
        torch.testing.assert_close(out, F.gelu(x, approximate="tanh"))


def test_out_overload_errors():
    x = torch.randn(4, 4)
    with pytest.raises(TypeError, match="dtype"):
        torch_rs.fast_gelu(x, out=torch.empty(4, 4, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="overlap|memory location"):
        torch_rs.fast_gelu(x, out=x.t())
    with pytest.raises(RuntimeError, match="memory location"):
        torch_rs.fast_gelu(x, out=torch.empty(4, 1).expand(4, 4))
    with pytest.raises(RuntimeError, match="automatic differentiation"):
        torch_rs.fast_gelu(x.requires_grad_(), out=torch.empty(4, 4))


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool, torch.complex64])
def test_unsupported_dtypes_name_the_dtype(dtype):
    x = torch.ones(3, dtype=dtype)
    name = str(dtype)
    with pytest.raises(TypeError, match=name):
        torch.ops.rs.fast_gelu(x)
    with pytest.raises(TypeError, match=name):
        torch.ops.rs.fast_gelu_backward(x, x)
    with pytest.raises(TypeError, match=name):
        torch.ops.rs.fast_gelu(x.to("meta"))


def test_backward_operand_mismatch():
    with pytest.raises(TypeError, match="dtype"):
        torch.ops.rs.fast_gelu_backward(torch.ones(3), torch.ones(3, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="shape"):
        torch.ops.rs.fast_gelu_backward(torch.ones(3), torch.ones(4))


def test_meta_tensors():
    y = torch.ops.rs.fast_gelu(torch.empty(3, 4, device="meta").t())
    assert y.device.type == "meta" and y.shape == (4, 3) and y.stride() == (1, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_is_not_implemented_and_names_the_device():
    x = torch.randn(3, device="cuda")
    with pytest.raises(NotImplementedError, match="cuda"):
        torch.ops.rs.fast_gelu(x)
    with pytest.raises(NotImplementedError, match="cuda"):
        torch.ops.rs.fast_gelu(x.requires_grad_()).sum().backward()


def test_results_do_not_depend_on_thread_count():
    x = torch.randn(1_000_003) * 4
    grad = torch.randn(1_000_003)
    xt = torch.randn(1201, 1001).t()
    results = []
    for threads in (1, 2, 3):
        torch.set_num_threads(threads)
        results.append((
            torch.ops.rs.fast_gelu(x),
            torch.ops.rs.fast_gelu_backward(grad, x),
            torch.ops.rs.fast_gelu(xt),
            torch.ops.rs.fast_gelu(x.bfloat16()),
        ))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert torch.equal(a, b)


def test_concurrent_calls_from_python_threads():
    inputs = [torch.randn(200_000 + 17 * i) for i in range(8)]
    expected = [torch.ops.rs.fast_gelu(x) for x in inputs]
    failures = []

    def worker(index):
        for _ in range(20):
            x = inputs[index]
            if not torch.equal(torch.ops.rs.fast_gelu(x), expected[index]):
                failures.append(index)
            small = x[:1000]
            if not torch.equal(torch.ops.rs.fast_gelu(small), expected[index][:1000]):
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
def test_no_memory_growth_over_many_calls():
    x = torch.randn(1 << 20, requires_grad=True)
    grad = torch.randn(1 << 20)

    def calls(n):
        for _ in range(n):
            y = torch.ops.rs.fast_gelu(x)
            y.backward(grad)
            torch.ops.rs.fast_gelu(x.detach()[::2])
            try:
                torch.ops.rs.fast_gelu(torch.ones(4, dtype=torch.int64))
            except TypeError:
                pass
        x.grad = None

    calls(20)
    before = _rss_bytes()
    calls(300)
    growth = _rss_bytes() - before
    # 300 iterations allocate ~2.5 GB in total; anything leaked per call would show here.
    assert growth < 64 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB"
