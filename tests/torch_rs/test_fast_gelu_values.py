"""Values, gradients and layouts of rs::fast_gelu against torch's own tanh GELU."""

import pytest
import torch
import torch.nn.functional as F
from gelu_cases import (
    DTYPES,
    TOLERANCE,
    assert_within,
    extreme_values,
    layouts,
    reference,
    reference_grad,
    significant_strides,
)

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


LAYOUT_NAMES = [name for name, _ in layouts()]


@pytest.mark.parametrize("name", LAYOUT_NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_layouts_values_and_output_strides(name, dtype):
    x = dict(layouts(dtype))[name]
    ours = torch.ops.rs.fast_gelu(x)
    theirs = F.gelu(x, approximate="tanh")
    assert ours.shape == theirs.shape and ours.dtype == dtype
    assert significant_strides(ours) == significant_strides(theirs)
    if dtype in TOLERANCE:
        assert_within(ours, reference(x), TOLERANCE[dtype])
    else:
        expected = torch.ops.rs.fast_gelu(x.float()).to(dtype)
        torch.testing.assert_close(ours, expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", LAYOUT_NAMES)
def test_layouts_backward(name):
    x = dict(layouts(torch.float64))[name]
    reversed_dims = tuple(reversed(range(x.dim())))
    contiguous_grad = torch.randn(x.shape, dtype=x.dtype)
    transposed_grad = torch.randn(x.shape[::-1], dtype=x.dtype).permute(reversed_dims)
    for grad in [contiguous_grad, transposed_grad]:
        ours = torch.ops.rs.fast_gelu_backward(grad, x)
        theirs = torch.ops.aten.gelu_backward(grad, x, approximate="tanh")
        torch.testing.assert_close(ours, theirs, rtol=1e-11, atol=1e-12)
        if grad.is_contiguous() or x.numel() == 0:
            assert significant_strides(ours) == significant_strides(theirs)


def test_public_wrappers():
    x = torch.randn(3, 4)
    torch.testing.assert_close(torch_rs.fast_gelu(x), F.gelu(x, approximate="tanh"))
    module = torch_rs.nn.FastGELU()
    torch.testing.assert_close(module(x), torch.nn.GELU(approximate="tanh")(x))
    assert repr(module) == "FastGELU(approximate='tanh')"
    assert module.state_dict() == {}
    with pytest.raises(ValueError, match="tanh"):
        torch_rs.nn.FastGELU(approximate="none")
