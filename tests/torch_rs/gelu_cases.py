"""GELU's float64 references and the inputs that probe its limits."""

import torch
import torch.nn.functional as F

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
