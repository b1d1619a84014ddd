"""Shared inputs and comparisons for the torch_rs tests."""

import torch
import torch.nn.functional as F

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]

# Accuracy promised for each dtype, relative to max(1, |y|) of a float64 evaluation.
TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}


def reference(x: torch.Tensor) -> torch.Tensor:
    """tanh-GELU evaluated in float64, with the limits where torch's formula gives NaN."""
    x64 = x.double()
    y = F.gelu(x64, approximate="tanh")
    return torch.where(x64 == -torch.inf, torch.zeros_like(y), y)


def reference_grad(x: torch.Tensor) -> torch.Tensor:
    """d gelu/dx in float64; 1 and 0 beyond |x| = 1e3, where torch's backward overflows."""
    x64 = x.double()
    grad = torch.ops.aten.gelu_backward(torch.ones_like(x64), x64, approximate="tanh")
    grad = torch.where(x64 > 1e3, torch.ones_like(grad), grad)
    return torch.where(x64 < -1e3, torch.zeros_like(grad), grad)


def assert_within(actual: torch.Tensor, expected: torch.Tensor, tolerance: float) -> None:
    """|actual - expected| <= tolerance * max(1, |expected|), NaN only where expected is NaN."""
    actual, expected = actual.double(), expected.double()
    assert torch.equal(actual.isnan(), expected.isnan())
    finite = ~expected.isnan()
    error = (actual[finite] - expected[finite]).abs()
    allowed = tolerance * expected[finite].abs().clamp(min=1.0)
    same_inf = actual[finite] == expected[finite]  # equal infinities have a NaN difference
    bad = ~((error <= allowed) | same_inf)
    assert not bad.any(), (
        f"{int(bad.sum())} values off, worst at x index {int(bad.nonzero()[0])}: "
        f"{actual[finite][bad][:5]} vs {expected[finite][bad][:5]}"
    )


def extreme_values(dtype: torch.dtype) -> torch.Tensor:
    """Special values, the dtype's extremes and a log-spaced sweep of magnitudes, both signs."""
    info = torch.finfo(dtype)
    magnitudes = torch.logspace(-30, 38, 400, dtype=torch.float64)
    if dtype == torch.float64:
        magnitudes = torch.cat([magnitudes, torch.logspace(38, 308, 100, dtype=torch.float64)])
    magnitudes = magnitudes[magnitudes <= info.max]
    special = torch.tensor(
        [0.0, info.tiny, info.max, info.eps, 1.0, 3.0, 8.999, 9.0, 9.001, 19.999, 20.0, 20.001],
        dtype=torch.float64,
    )
    special = special[special <= info.max]
    values = torch.cat([magnitudes, special, torch.linspace(0, 12, 1201, dtype=torch.float64)])
    values = torch.cat([values, -values]).to(dtype)
    return torch.cat([values, torch.tensor([torch.nan, torch.inf, -torch.inf], dtype=dtype)])


def layouts(dtype: torch.dtype = torch.float32):
    """(name, tensor) pairs covering the layouts elementwise ops meet."""
    g = torch.Generator().manual_seed(0)

    def randn(*shape):
        return (torch.randn(*shape, generator=g) * 3).to(dtype)

    return [
        ("contiguous", randn(4, 33, 7)),
        ("zero_dim", randn(())),
        ("empty", randn(0, 5)),
        ("one_element", randn(1, 1, 1)),
        ("transposed", randn(33, 20).t()),
        ("sliced", randn(40, 30)[::3, 1::2]),
        ("permuted_sliced", randn(6, 8, 10).permute(2, 0, 1)[:, ::2]),
        ("expanded", randn(5, 1).expand(5, 40)),
        ("expanded_scalar", randn(()).expand(3, 4)),
        ("channels_last", randn(2, 6, 9, 11).to(memory_format=torch.channels_last)),
        ("channels_last_3d", randn(2, 3, 4, 5, 6).to(memory_format=torch.channels_last_3d)),
        ("negative_offset_view", randn(100)[17:83]),
        ("large_odd", randn(70_001)),
        ("large_transposed", randn(300, 257).t()),
    ]


def significant_strides(t: torch.Tensor):
    """Strides that matter for memory layout: those of dimensions with more than one element."""
    if t.numel() == 0:
        return ()
    return tuple(s for s, n in zip(t.stride(), t.shape) if n > 1)
