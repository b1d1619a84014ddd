"""GELU's own values: every 16-bit pattern, special and extreme inputs, gradients and double
backward against torch's tanh GELU. (Layouts, dtypes and PyTorch integration are in
test_ops.py, driven by op_db.py.)"""

import pytest
import torch
import torch.nn.functional as F
from gelu_cases import TOLERANCE, extreme_values, reference, reference_grad
from op_db import DTYPES, assert_within

import torch_rs


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_accuracy_against_float64_evaluation(dtype):
    x = extreme_values(dtype)
    assert_within(torch.ops.rs.fast_gelu(x), reference(x), TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_is_the_rounded_float32_result(dtype):
    # Every bit pattern of the 16-bit type.
    x = torch.arange(-(2**15), 2**15, dtype=torch.int32).to(torch.int16).view(dtype)
    expected = torch.ops.rs.fast_gelu(x.float()).to(dtype)
    torch.testing.assert_close(torch.ops.rs.fast_gelu(x), expected, rtol=0, atol=0, equal_nan=True)
    # ... and torch's own result is within one unit in the last place (torch's `1 + tanh`
    # cancels to 0 where the true value is a tiny negative number: hence the absolute term).
    finite = x.isfinite() & F.gelu(x, approximate="tanh").isfinite()
    ulp = torch.finfo(dtype).eps
    torch.testing.assert_close(
        torch.ops.rs.fast_gelu(x[finite]).float(),
        F.gelu(x[finite], approximate="tanh").float(),
        rtol=ulp,
        atol=1e-6,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_special_and_extreme_values(dtype):
    x = extreme_values(dtype).requires_grad_()
    y = torch.ops.rs.fast_gelu(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    finite = x.detach().isfinite()
    assert y[finite].isfinite().all()
    assert grad[finite].isfinite().all()
    assert y[-3].isnan() and grad[-3].isnan()
    assert y[-2] == torch.inf and grad[-2] == 1
    assert y[-1] == 0 and grad[-1] == 0
    info = torch.finfo(dtype)
    big = torch.tensor([info.max, -info.max], dtype=dtype)
    assert torch.equal(torch.ops.rs.fast_gelu(big), torch.tensor([info.max, -0.0], dtype=dtype))
    ones = torch.ones_like(big)
    assert torch.equal(torch.ops.rs.fast_gelu_backward(ones, big), torch.tensor([1.0, 0.0], dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradient_against_float64_evaluation(dtype):
    x = extreme_values(dtype)
    x = x[x.isfinite()]
    grad_out = torch.linspace(-2, 2, x.numel(), dtype=dtype)
    ours = torch.ops.rs.fast_gelu_backward(grad_out, x)
    expected = grad_out.double() * reference_grad(x)
    assert_within(ours, expected, 4e-6 if dtype == torch.float32 else 1e-11)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_gradient(dtype):
    x = torch.linspace(-12, 12, 5001).to(dtype)
    grad_out = torch.randn(x.shape, generator=torch.Generator().manual_seed(1)).to(dtype)
    ours = torch.ops.rs.fast_gelu_backward(grad_out, x)
    expected = torch.ops.rs.fast_gelu_backward(grad_out.float(), x.float()).to(dtype)
    torch.testing.assert_close(ours, expected, rtol=0, atol=0)
    torch.testing.assert_close(
        ours, torch.ops.aten.gelu_backward(grad_out, x, approximate="tanh"), rtol=2e-2, atol=1e-2
    )


def test_second_derivative_matches_autograd_of_torch_gelu():
    x = torch.linspace(-25, 25, 20001, dtype=torch.float64, requires_grad=True)
    (first,) = torch.autograd.grad(F.gelu(x, approximate="tanh").sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), x)
    ours = torch.ops.rs.fast_gelu_second_derivative(x.detach())
    torch.testing.assert_close(ours, second, rtol=1e-9, atol=1e-12)


def test_double_backward_matches_torch():
    x = torch.linspace(-6, 6, 101, dtype=torch.float64, requires_grad=True)
    results = []
    for fn in (torch.ops.rs.fast_gelu, lambda t: F.gelu(t, approximate="tanh")):
        (first,) = torch.autograd.grad(fn(x).pow(2).sum(), x, create_graph=True)
        (second,) = torch.autograd.grad(first.sum(), x)
        results.append((first, second))
    torch.testing.assert_close(results[0], results[1], rtol=1e-10, atol=1e-12)


def test_public_wrappers():
    x = torch.randn(3, 4)
    torch.testing.assert_close(torch_rs.fast_gelu(x), F.gelu(x, approximate="tanh"))
    out = torch.empty(3, 4)
    assert torch_rs.fast_gelu(x, out=out) is out
    torch.testing.assert_close(out, F.gelu(x, approximate="tanh"))
    module = torch_rs.nn.FastGELU()
    torch.testing.assert_close(module(x), torch.nn.GELU(approximate="tanh")(x))
    assert repr(module) == "FastGELU(approximate='tanh')"
    assert module.state_dict() == {}
    with pytest.raises(ValueError, match="tanh"):
        torch_rs.nn.FastGELU(approximate="none")
