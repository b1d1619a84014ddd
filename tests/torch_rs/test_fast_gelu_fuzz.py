"""Random shapes, strides, dtypes and values: rs::fast_gelu and its backward against torch."""

import torch
import torch.nn.functional as F
from gelu_cases import TOLERANCE, reference
from hypothesis import given, settings
from hypothesis import strategies as st
from op_db import DTYPES, assert_within, significant_strides


@st.composite
def strided_tensors(draw):
    dtype = draw(st.sampled_from(DTYPES))
    ndim = draw(st.integers(0, 4))
    shape = draw(st.lists(st.integers(0, 7), min_size=ndim, max_size=ndim))
    steps = draw(st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim))
    base_shape = [n * s for n, s in zip(shape, steps)]
    scale = draw(st.sampled_from([1.0, 5.0, 1e4, 1e30]))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    base = (torch.randn(base_shape, generator=g, dtype=torch.float64) * scale).to(dtype)
    x = base[tuple(slice(None, None, s) for s in steps)]
    perm = draw(st.permutations(list(range(ndim))))
    x = x.permute(perm) if ndim else x
    if ndim and draw(st.booleans()):
        d = draw(st.integers(0, ndim - 1))
        if x.shape[d] == 1:
            x = x.expand(*[5 if i == d else -1 for i in range(ndim)])
    return x


@settings(max_examples=150, deadline=None)
@given(strided_tensors())
def test_matches_torch_on_random_layouts(x):
    ours = torch.ops.rs.fast_gelu(x)
    theirs = F.gelu(x, approximate="tanh")
    assert ours.shape == theirs.shape
    assert significant_strides(ours) == significant_strides(theirs)
    if x.dtype in TOLERANCE:
        assert_within(ours, reference(x), TOLERANCE[x.dtype])
    else:
        torch.testing.assert_close(ours, torch.ops.rs.fast_gelu(x.float()).to(x.dtype), rtol=0, atol=0)


@settings(max_examples=100, deadline=None)
@given(strided_tensors(), st.booleans())
def test_backward_matches_torch_on_random_layouts(x, transpose_grad):
    x = x.double().clamp(-1e3, 1e3)  # torch's own backward overflows to NaN beyond
    grad = torch.randn(x.shape, dtype=x.dtype)
    if transpose_grad and x.dim() >= 2:
        grad = grad.transpose(0, 1).contiguous().transpose(0, 1)
    ours = torch.ops.rs.fast_gelu_backward(grad, x)
    theirs = torch.ops.aten.gelu_backward(grad, x, approximate="tanh")
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
