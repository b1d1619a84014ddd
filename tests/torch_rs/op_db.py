"""The registry of rs:: operators that test_ops.py runs through PyTorch's machinery (in the
manner of PyTorch's OpInfo): per op family, its overloads with their sample inputs and float64
references, its error inputs, whether it has a double backward, and its module drop-in.

Adding an op: one OpInfo entry in OP_DB (plus a module of op-specific cases, like
gelu_cases.py, for its references).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch
import torch.nn.functional as F

import gelu_cases
import rms_norm_cases
import torch_rs

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
HALF_DTYPES = (torch.bfloat16, torch.float16)


@dataclass(frozen=True)
class SampleInput:
    """The positional arguments of one call; `name` says which layout they have."""

    name: str
    args: tuple
    # Whether the result has the same memory layout as torch's own op on these arguments.
    torch_layout: bool = True


@dataclass(frozen=True)
class ErrorInput:
    """A call that must raise `error` with a message matching `match`."""

    name: str
    call: Callable[[], object]
    error: type[BaseException]
    match: str


@dataclass(frozen=True)
class Overload:
    """One operator of a family and how to test it."""

    op: torch._ops.OpOverload
    # sample_inputs(dtype, requires_grad, large=False) -> the samples of every layout (with
    # `large`: of a million elements, for the thread-count, concurrency and memory tests).
    sample_inputs: Callable[..., list[SampleInput]]
    # The same function evaluated in float64, and how close each dtype must come to it
    # (|ours - reference| <= tolerance * max(1, |reference|)). Half types instead must be the
    # float32 result rounded once.
    reference: Callable[..., torch.Tensor]
    tolerance: dict[torch.dtype, float]
    # torch's own op computing the same thing (for output layouts and vmap), if there is one.
    torch_equivalent: Callable[..., torch.Tensor] | None = None
    # Whether autograd goes through it (false for an op that only exists for double backward
    # and raises when differentiated).
    differentiable: bool = True
    # Half types, when not "the float32 result rounded once": the reference module run in the
    # half type, which ours must equal on all but `HALF_MISMATCH_FRACTION` of the elements and
    # never differ from by more than one rounding step (ops following a cast order with several
    # roundings).
    half_reference: Callable[..., object] | None = None
    # vmap: () -> [(args, in_dims)] to test (None: every tensor batched along each dimension
    # alike, for elementwise ops). A batched call must equal torch_equivalent on each sample.
    vmap_samples: Callable[[], list[tuple[tuple, tuple]]] | None = None
    # The dtype of the first result given the samples' dtype (None: the same).
    result_dtype: Callable[[torch.dtype], torch.dtype] | None = None


@dataclass(frozen=True)
class OpInfo:
    """One op family: its operators and what the generic tests need to run them."""

    name: str
    # The family's operators, the public one first (forward, backward, ...).
    overloads: tuple[Overload, ...]
    # The out= overload of the public operator, if any.
    out: torch._ops.OpOverload | None
    error_inputs: Callable[[], Iterable[ErrorInput]]
    # Small float64 samples that require grad, for gradcheck.
    grad_samples: Callable[[], list[SampleInput]]
    supports_gradgrad: bool
    # The nn.Module drop-in given the feature size (or a module using the op), and a module
    # patch_model replaces with it (None for ops without a module of their own).
    module: Callable[[int], torch.nn.Module]
    patched_module: Callable[[int], torch.nn.Module] | None
    # Operators that torch.compile must keep in its forward and backward code.
    compiled_ops: tuple[str, ...] = ()
    # The sample names test_opcheck runs, per (dtype, requires_grad) case (None: the shared list).
    opcheck_cases: tuple[tuple[torch.dtype, bool, str], ...] | None = None

    @property
    def op(self) -> torch._ops.OpOverload:
        return self.overloads[0].op


# ---- Shared helpers --------------------------------------------------------------------------


def layouts(dtype: torch.dtype = torch.float32, large: bool = False):
    """(name, tensor) pairs covering the layouts elementwise ops meet; with `large`, a dense and
    a transposed tensor of a million elements (several chunks for every thread)."""
    g = torch.Generator().manual_seed(0)

    def randn(*shape):
        return (torch.randn(*shape, generator=g) * 3).to(dtype)

    if large:
        return [("large_flat", randn(1_000_003)), ("large_transposed", randn(1201, 1001).t())]
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


HALF_MISMATCH_FRACTION = 0.01


def tensors_of(result) -> list[torch.Tensor]:
    """The tensors of an op's result (one tensor or a tuple)."""
    return list(result) if isinstance(result, (tuple, list)) else [result]


def assert_half_matches(actual: torch.Tensor, expected: torch.Tensor, steps: int = 4) -> None:
    """Equal to `expected` (same dtype) on all but a small fraction of elements, and elsewhere
    within a few rounding steps: what a different float32 summation order can change (one step
    of an intermediate rounding, as Llama's normalised value, scaled by the weight after it)."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    if actual.numel() == 0:
        return
    a, e = actual.float(), expected.float()
    # Values below 2^-80 count as zero: activations saturate there (tanh-GELU is -0 below
    # x = -9 in float32, where the exact value is under 1e-27).
    tiny = 2.0**-80
    differ = (a != e) & ~(a.isnan() & e.isnan()) & ~((a.abs() < tiny) & (e.abs() < tiny))
    # At least one element may differ, so small tensors are held to the same rule.
    allowed = max(1, HALF_MISMATCH_FRACTION * actual.numel())
    assert int(differ.sum()) <= allowed, f"{int(differ.sum())} differ"
    if differ.any():
        # One step of the half type at the larger magnitude.
        mantissa = 8 if actual.dtype == torch.bfloat16 else 11
        big = torch.maximum(a.abs(), e.abs())[differ]
        step = torch.exp2(torch.floor(torch.log2(big)) - (mantissa - 1))
        if actual.dtype == torch.float16:
            step = step.clamp(min=2.0**-24)
        assert ((a - e).abs()[differ] <= steps * step).all(), (a[differ][:5], e[differ][:5])


def map_tensors(fn, args):
    """`args` with `fn` applied to its tensors."""
    return tuple(fn(a) if isinstance(a, torch.Tensor) else a for a in args)


def check_values(overload: Overload, args: tuple, dtype: torch.dtype, where: str = "") -> list:
    """One call's values: float32/float64 within the op's bound of the float64 reference; half
    types as the reference module's cast order gives them (`half_reference`) or the float32
    result rounded once. Returns the result's tensors."""
    ours = tensors_of(overload.op(*args))
    assert ours[0].dtype == (overload.result_dtype or (lambda d: d))(dtype), where
    if dtype in HALF_DTYPES and overload.half_reference is not None:
        expected = tensors_of(overload.half_reference(*args))
        for a, e in zip(ours, expected, strict=True):
            if e.dtype in HALF_DTYPES:
                assert_half_matches(a, e)
            else:  # float32 by-products (the inverse RMS of half inputs)
                assert_within(a, e, overload.tolerance[torch.float32])
    elif dtype in HALF_DTYPES and dtype not in overload.tolerance:
        expected = tensors_of(overload.op(*map_tensors(torch.Tensor.float, args)))
        for a, e in zip(ours, expected, strict=True):
            torch.testing.assert_close(a, e.to(dtype), rtol=0, atol=0, equal_nan=True, msg=where)
    else:
        expected = tensors_of(overload.reference(*args))
        for a, e in zip(ours, expected, strict=True):
            assert_within(a, e, overload.tolerance[dtype])
    return ours


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


def _requiring_grad(t: torch.Tensor, requires_grad: bool) -> torch.Tensor:
    return t.requires_grad_() if requires_grad and t.dtype.is_floating_point else t


def unary_samples(dtype: torch.dtype, requires_grad: bool, large: bool = False):
    """One input of every layout."""
    return [
        SampleInput(name, (_requiring_grad(x, requires_grad),))
        for name, x in layouts(dtype, large)
    ]


def grad_and_input_samples(dtype: torch.dtype, requires_grad: bool, large: bool = False):
    """(grad, input) of every input layout, with a contiguous gradient and with a gradient
    laid out in the reverse dimension order (the output layout then follows the gradient's
    rules, not necessarily torch's)."""
    g = torch.Generator().manual_seed(1)
    samples = []
    for name, x in layouts(dtype, large):
        reversed_dims = tuple(reversed(range(x.dim())))
        contiguous = torch.randn(x.shape, generator=g).to(dtype)
        transposed = torch.randn(x.shape[::-1], generator=g).to(dtype).permute(reversed_dims)
        for grad_name, grad, same_layout in [
            ("", contiguous, True),
            ("/reversed_grad", transposed, x.numel() == 0),
        ]:
            args = (_requiring_grad(grad, requires_grad), _requiring_grad(x, requires_grad))
            samples.append(SampleInput(name + grad_name, args, torch_layout=same_layout))
    return samples


# ---- rs::fast_gelu ------------------------------------------------------------------------------


def _gelu_backward_reference(grad, x):
    return grad.double() * gelu_cases.reference_grad(x)


def _gelu_second_derivative_reference(x):
    x64 = x.detach().double().requires_grad_()
    with torch.enable_grad():
        (first,) = torch.autograd.grad(
            F.gelu(x64, approximate="tanh").sum(), x64, create_graph=True
        )
        (second,) = torch.autograd.grad(first.sum(), x64)
    return second


def _gelu_grad_samples() -> list[SampleInput]:
    g = torch.Generator().manual_seed(2)
    x = (torch.randn(4, 6, generator=g, dtype=torch.float64) * 3).requires_grad_()
    xt = torch.randn(6, 4, generator=g, dtype=torch.float64).t().requires_grad_()
    return [SampleInput("contiguous", (x,)), SampleInput("transposed", (xt,))]


def _gelu_error_inputs() -> Iterable[ErrorInput]:
    ops = torch.ops.rs
    for dtype in [torch.int64, torch.int32, torch.uint8, torch.bool, torch.complex64]:
        x = torch.ones(3, dtype=dtype)
        name = str(dtype)
        yield ErrorInput(f"forward/{name}", lambda x=x: ops.fast_gelu(x), TypeError, name)
        yield ErrorInput(
            f"backward/{name}", lambda x=x: ops.fast_gelu_backward(x, x), TypeError, name
        )
        yield ErrorInput(
            f"meta/{name}", lambda x=x: ops.fast_gelu(x.to("meta")), TypeError, name
        )
    yield ErrorInput(
        "backward/dtype_mismatch",
        lambda: ops.fast_gelu_backward(torch.ones(3), torch.ones(3, dtype=torch.float64)),
        TypeError,
        "dtype",
    )
    yield ErrorInput(
        "backward/shape_mismatch",
        lambda: ops.fast_gelu_backward(torch.ones(3), torch.ones(4)),
        RuntimeError,
        "shape",
    )
    x = torch.randn(4, 4)
    # As torch's out= ops: F.gelu(x, out=int_tensor) says "Found dtype Long but expected Float".
    yield ErrorInput(
        "out/dtype",
        lambda: torch_rs.fast_gelu(x, out=torch.empty(4, 4, dtype=torch.float64)),
        RuntimeError,
        "Found dtype Double but expected Float",
    )
    yield ErrorInput(
        "out/int_dtype",
        lambda: torch_rs.fast_gelu(x, out=torch.empty(4, 4, dtype=torch.int64)),
        RuntimeError,
        "Found dtype Long but expected Float",
    )
    yield ErrorInput(
        "out/dtype_meta",
        lambda: torch_rs.fast_gelu(x.to("meta"), out=torch.empty(4, 4, device="meta").long()),
        RuntimeError,
        "Found dtype Long but expected Float",
    )
    yield ErrorInput(
        "out/overlaps_input",
        lambda: torch_rs.fast_gelu(x, out=x.t()),
        RuntimeError,
        "overlap|memory location",
    )
    yield ErrorInput(
        "out/internal_overlap",
        lambda: torch_rs.fast_gelu(x, out=torch.empty(4, 1).expand(4, 4)),
        RuntimeError,
        "memory location",
    )
    yield ErrorInput(
        "out/requires_grad",
        lambda: torch_rs.fast_gelu(x.clone().requires_grad_(), out=torch.empty(4, 4)),
        RuntimeError,
        "automatic differentiation",
    )
    yield ErrorInput(
        "third_derivative",
        _gelu_third_derivative,
        NotImplementedError,
        "beyond the second",
    )


def _gelu_third_derivative():
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    (first,) = torch.autograd.grad(torch.ops.rs.fast_gelu(x).sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), x, create_graph=True)
    torch.autograd.grad(second.sum(), x)


FAST_GELU = OpInfo(
    name="fast_gelu",
    overloads=(
        Overload(
            torch.ops.rs.fast_gelu.default,
            unary_samples,
            reference=gelu_cases.reference,
            tolerance=gelu_cases.TOLERANCE,
            torch_equivalent=lambda x: F.gelu(x, approximate="tanh"),
        ),
        Overload(
            torch.ops.rs.fast_gelu_backward.default,
            grad_and_input_samples,
            reference=_gelu_backward_reference,
            tolerance={torch.float32: 4e-6, torch.float64: 1e-11},
            torch_equivalent=lambda grad, x: torch.ops.aten.gelu_backward(
                grad, x, approximate="tanh"
            ),
        ),
        Overload(
            torch.ops.rs.fast_gelu_second_derivative.default,
            unary_samples,
            reference=_gelu_second_derivative_reference,
            tolerance={torch.float32: 2e-5, torch.float64: 1e-9},
            differentiable=False,
        ),
    ),
    out=torch.ops.rs.fast_gelu.out,
    error_inputs=_gelu_error_inputs,
    grad_samples=_gelu_grad_samples,
    supports_gradgrad=True,
    module=lambda features: torch_rs.nn.FastGELU(),
    patched_module=lambda features: torch.nn.GELU(approximate="tanh"),
    compiled_ops=("torch.ops.rs.fast_gelu.default", "torch.ops.rs.fast_gelu_backward.default"),
)

# ---- rs::rms_norm, rs::add_rms_norm ------------------------------------------------------------

NORM_OPCHECK_CASES = (
    (torch.float32, True, "contiguous"),
    (torch.float64, True, "transposed"),
    (torch.float32, False, "sliced"),
    (torch.float32, False, "channels_last"),
    (torch.bfloat16, True, "contiguous"),
    (torch.float16, False, "gemma"),
    (torch.float64, True, "no_weight"),
    (torch.float32, True, "one_dim"),
    (torch.float32, False, "empty"),
)


def _requiring(t, requires_grad):
    return None if t is None else _requiring_grad(t, requires_grad)


def _norm_samples(dtype, requires_grad, large=False):
    return [
        SampleInput(
            name,
            (_requiring(x, requires_grad), _requiring(w, requires_grad), eps, mode),
            torch_layout=x.is_contiguous(),
        )
        for name, x, w, eps, mode in rms_norm_cases.inputs(dtype, large)
    ]


def _add_norm_samples(dtype, requires_grad, large=False):
    samples = []
    for name, x, w, eps, mode in rms_norm_cases.inputs(dtype, large):
        residual = rms_norm_cases.residuals(x)
        args = (_requiring(x, requires_grad), _requiring(residual, requires_grad),
                _requiring(w, requires_grad), eps, mode)
        samples.append(SampleInput(name, args, torch_layout=x.is_contiguous()))
    return samples


def _norm_backward_samples(dtype, requires_grad, large=False):
    samples = []
    for k, (name, x, w, eps, mode) in enumerate(rms_norm_cases.inputs(dtype, large)):
        # Every other sample also with the fused add's gradient, and every third without the
        # weight's gradient.
        args = rms_norm_cases.backward_args(
            x, w, eps, mode, weight_grad=k % 3 != 2, with_grad_sum=k % 2 == 1
        )
        samples.append(SampleInput(name, args, torch_layout=False))
    return samples


def _norm_forward_half_reference(x, weight, eps, mode):
    xf = x.float()
    inv = torch.rsqrt(xf.pow(2).mean(-1) + (torch.finfo(torch.float32).eps if eps is None else eps))
    return rms_norm_cases.rms_norm_torch(x, weight, eps, mode), inv


def _norm_forward_reference(x, weight, eps, mode):
    x64 = x.double()
    eps = torch.finfo(rms_norm_cases.compute_dtype(x.dtype)).eps if eps is None else eps
    inv = torch.rsqrt(x64.pow(2).mean(-1) + eps)
    return rms_norm_cases.rms_norm_reference(x, weight, eps, mode), inv


def _add_norm_forward_reference(x, residual, weight, eps, mode):
    out, total = rms_norm_cases.add_rms_norm_reference(x, residual, weight, eps, mode)
    return out, total, _norm_forward_reference(total, None, eps, mode)[1]


def _add_norm_forward_half_reference(x, residual, weight, eps, mode):
    out, total = rms_norm_cases.add_rms_norm_torch(x, residual, weight, eps, mode)
    return out, total, _norm_forward_half_reference(total, None, eps, mode)[1]


def _norm_vmap_samples():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 5, 16, generator=g)
    w = torch.randn(16, generator=g)
    ws = torch.randn(4, 16, generator=g)
    return [
        ((x, w, 1e-6, "llama"), (0, None, None, None)),
        ((x, w, 1e-6, "gemma"), (1, None, None, None)),
        ((x.permute(1, 2, 0).contiguous(), w, None, "torch"), (2, None, None, None)),
        ((x, ws, 1e-6, "t5"), (0, 0, None, None)),
        ((x[0], ws, 1e-6, "llama"), (None, 0, None, None)),
    ]


def _add_norm_vmap_samples():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(4, 5, 16, generator=g)
    r = torch.randn(4, 5, 16, generator=g)
    w = torch.randn(16, generator=g)
    return [
        ((x, r, w, 1e-6, "llama"), (0, 0, None, None, None)),
        ((x, r[:, 0], w, 1e-6, "gemma"), (1, None, None, None, None)),
        ((x, r, torch.randn(4, 16, generator=g), 1e-6, "torch"), (0, 0, 0, None, None)),
    ]


def _norm_grad_samples():
    g = torch.Generator().manual_seed(5)

    def t(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_()

    return [
        SampleInput(mode, (t(3, 4, 10), t(10), 1e-6, mode)) for mode in rms_norm_cases.MODES
    ] + [
        SampleInput("no_weight", (t(5, 6), None, 1e-5, "llama")),
        SampleInput("transposed", (t(12, 5).t(), t(12), None, "torch")),
    ]


def _add_norm_grad_samples():
    g = torch.Generator().manual_seed(6)

    def t(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_()

    return [
        SampleInput(mode, (t(3, 4, 10), t(3, 4, 10), t(10), 1e-6, mode))
        for mode in rms_norm_cases.MODES
    ] + [SampleInput("no_weight", (t(5, 6), t(5, 6), None, 1e-5, "llama"))]


def _norm_error_inputs() -> Iterable[ErrorInput]:
    ops = torch.ops.rs
    x = torch.randn(4, 8)
    w = torch.ones(8)
    for dtype in [torch.int64, torch.bool, torch.complex64]:
        bad = torch.ones(4, 8, dtype=dtype)
        yield ErrorInput(f"input/{dtype}", lambda b=bad: ops.rms_norm(b, None), TypeError, str(dtype))
        yield ErrorInput(
            f"meta/{dtype}", lambda b=bad: ops.rms_norm(b.to("meta"), None), TypeError, str(dtype)
        )
    yield ErrorInput(
        "weight/shape", lambda: ops.rms_norm(x, torch.ones(7)), RuntimeError, "shape"
    )
    yield ErrorInput(
        "weight/float64_with_float32_input",
        lambda: ops.rms_norm(x, w.double()),
        RuntimeError,
        "not supported",
    )
    yield ErrorInput(
        "input/zero_dim", lambda: ops.rms_norm(torch.tensor(1.0), None), RuntimeError, "dimension"
    )
    yield ErrorInput("mode", lambda: ops.rms_norm(x, w, 1e-6, "layer"), ValueError, "mode")
    yield ErrorInput(
        "backward/grad_dtype",
        lambda: ops.rms_norm_backward(
            x.double(), x, w, torch.ones(4), None, "llama", True
        ),
        RuntimeError,
        "dtype",
    )
    yield ErrorInput(
        "backward/inv_rms_shape",
        lambda: ops.rms_norm_backward(x, x, w, torch.ones(5), None, "llama", True),
        RuntimeError,
        "inv_rms",
    )


def _add_norm_error_inputs() -> Iterable[ErrorInput]:
    ops = torch.ops.rs
    x = torch.randn(4, 8)
    yield ErrorInput(
        "residual/shape", lambda: ops.add_rms_norm(x, torch.randn(4, 7)), RuntimeError, "shape"
    )
    yield ErrorInput(
        "residual/dtype",
        lambda: ops.add_rms_norm(x, x.double()),
        RuntimeError,
        "dtype",
    )
    yield ErrorInput(
        "residual/int", lambda: ops.add_rms_norm(x, x.long()), TypeError, "int64"
    )


class AddRMSNormUse(torch.nn.Module):
    """A module using rs::add_rms_norm as decoder layers would (norm of the updated stream)."""

    def __init__(self, features: int):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.linspace(0.5, 1.5, features))

    def forward(self, x):
        normed, total = torch.ops.rs.add_rms_norm(x, x * 0.5, self.weight, 1e-6, "llama")
        return normed + total


RMS_NORM = OpInfo(
    name="rms_norm",
    overloads=(
        Overload(
            torch.ops.rs.rms_norm.default,
            _norm_samples,
            reference=rms_norm_cases.rms_norm_reference,
            tolerance={torch.float32: 1e-5, torch.float64: 1e-12},
            torch_equivalent=rms_norm_cases.rms_norm_torch,
            half_reference=rms_norm_cases.rms_norm_torch,
            vmap_samples=_norm_vmap_samples,
        ),
        Overload(
            torch.ops.rs.rms_norm_forward.default,
            _norm_samples,
            reference=_norm_forward_reference,
            tolerance={torch.float32: 1e-5, torch.float64: 1e-12},
            half_reference=_norm_forward_half_reference,
            differentiable=False,
        ),
        Overload(
            torch.ops.rs.rms_norm_backward.default,
            _norm_backward_samples,
            reference=rms_norm_cases.rms_norm_backward_reference,
            tolerance={
                torch.float32: 2e-5,
                torch.float64: 1e-11,
                torch.bfloat16: 1e-2,
                torch.float16: 2e-3,
            },
            differentiable=False,
        ),
    ),
    out=None,
    error_inputs=_norm_error_inputs,
    grad_samples=_norm_grad_samples,
    supports_gradgrad=True,
    module=lambda features: torch_rs.nn.RMSNorm(features, 1e-6, "llama"),
    patched_module=lambda features: torch.nn.RMSNorm(features, eps=1e-6),
    compiled_ops=(
        "torch.ops.rs.rms_norm_forward.default",
        "torch.ops.rs.rms_norm_backward.default",
    ),
    opcheck_cases=NORM_OPCHECK_CASES,
)

ADD_RMS_NORM = OpInfo(
    name="add_rms_norm",
    overloads=(
        Overload(
            torch.ops.rs.add_rms_norm.default,
            _add_norm_samples,
            reference=rms_norm_cases.add_rms_norm_reference,
            tolerance={torch.float32: 1e-5, torch.float64: 1e-12},
            torch_equivalent=rms_norm_cases.add_rms_norm_torch,
            half_reference=rms_norm_cases.add_rms_norm_torch,
            vmap_samples=_add_norm_vmap_samples,
        ),
        Overload(
            torch.ops.rs.add_rms_norm_forward.default,
            _add_norm_samples,
            reference=_add_norm_forward_reference,
            tolerance={torch.float32: 1e-5, torch.float64: 1e-12},
            half_reference=_add_norm_forward_half_reference,
            differentiable=False,
        ),
    ),
    out=None,
    error_inputs=_add_norm_error_inputs,
    grad_samples=_add_norm_grad_samples,
    supports_gradgrad=True,
    module=AddRMSNormUse,
    patched_module=None,
    compiled_ops=(
        "torch.ops.rs.add_rms_norm_forward.default",
        "torch.ops.rs.rms_norm_backward.default",
    ),
    opcheck_cases=NORM_OPCHECK_CASES,
)

# ---- rs::silu_mul, rs::gelu_tanh_mul -------------------------------------------------------------


def _glu_samples(dtype, requires_grad, large=False):
    """(gate, up) with `up` in gate's layout where that is dense (one walk), else contiguous."""
    g = torch.Generator().manual_seed(7)
    samples = []
    for name, gate in layouts(dtype, large):
        up = torch.empty_like(gate).copy_(torch.randn(gate.shape, generator=g).to(dtype))
        args = (_requiring_grad(gate, requires_grad), _requiring_grad(up, requires_grad))
        samples.append(SampleInput(name, args))
    return samples


def _glu_backward_samples(dtype, requires_grad, large=False):
    g = torch.Generator().manual_seed(8)
    samples = []
    for sample in _glu_samples(dtype, False, large):
        gate, up = sample.args
        grad = torch.randn(gate.shape, generator=g).to(dtype)
        # A contiguous gradient: the results follow gate's layout only when all three share it.
        samples.append(SampleInput(sample.name, (grad, gate, up), torch_layout=False))
    return samples


def _glu_torch(act, exact):
    """torch's `act(gate) * up`, its gradients, their float64 values, and the half-type
    references; `exact` is the activation in a form without cancellation (x·σ(·))."""
    def forward(gate, up):
        return act(gate) * up

    def backward(grad, gate, up):
        gate = gate.detach().requires_grad_()
        up = up.detach().requires_grad_()
        with torch.enable_grad():
            return torch.autograd.grad(act(gate) * up, (gate, up), grad)

    def forward_reference(gate, up):
        return forward(gate.double(), up.double())

    # Half types: the models' cast order (activation rounded, product rounded; autograd's
    # roundings backward) with the activation and its derivative exact, since torch's
    # 0.5·x·(1 + tanh(·)) loses the negative tail of tanh-GELU (ours is x·σ(z)).
    def act64(x):
        return exact(x.double())

    def half_forward(gate, up):
        return act64(gate).to(gate.dtype) * up

    def half_backward(grad, gate, up):
        g64 = gate.double().requires_grad_()
        with torch.enable_grad():
            (d_act,) = torch.autograd.grad(exact(g64), g64, torch.ones_like(g64))
        d_up = grad * act64(gate).to(gate.dtype)
        d_gate = ((grad * up).double() * d_act).to(gate.dtype)
        return d_gate, d_up

    def backward_reference(grad, gate, up):
        return backward(grad.double(), gate.double(), up.double())

    return forward, backward, forward_reference, backward_reference, half_forward, half_backward


def _glu_grad_samples():
    g = torch.Generator().manual_seed(9)

    def t(*shape):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * 3).requires_grad_()

    return [
        SampleInput("contiguous", (t(4, 6), t(4, 6))),
        SampleInput("transposed", (t(6, 4).t(), t(4, 6))),
    ]


def _glu_error_inputs(name):
    op = getattr(torch.ops.rs, name)
    backward = getattr(torch.ops.rs, f"{name}_backward")

    def errors() -> Iterable[ErrorInput]:
        x = torch.randn(4, 4)
        for dtype in (torch.int64, torch.bool):
            bad = torch.ones(4, 4, dtype=dtype)
            yield ErrorInput(f"gate/{dtype}", lambda b=bad: op(b, x), TypeError, str(dtype))
            yield ErrorInput(
                f"meta/{dtype}", lambda b=bad: op(b.to("meta"), x.to("meta")), TypeError,
                str(dtype),
            )
        yield ErrorInput("shape", lambda: op(x, torch.randn(4, 5)), RuntimeError, "shape")
        yield ErrorInput("dtype", lambda: op(x, x.double()), RuntimeError, "dtype")
        yield ErrorInput(
            "backward/shape", lambda: backward(x, x, torch.randn(3, 4)), RuntimeError, "shape"
        )

    return errors


def _glu_info(name, act, exact, activation, patched_module, tolerance):
    forward, backward, forward_reference, backward_reference, half_forward, half_backward = (
        _glu_torch(act, exact)
    )
    op = getattr(torch.ops.rs, name)
    backward_op = getattr(torch.ops.rs, f"{name}_backward")
    return OpInfo(
        name=name,
        overloads=(
            Overload(
                op.default,
                _glu_samples,
                reference=forward_reference,
                tolerance=tolerance,
                torch_equivalent=forward,
                half_reference=half_forward,
            ),
            Overload(
                backward_op.default,
                _glu_backward_samples,
                reference=backward_reference,
                tolerance=tolerance,
                half_reference=half_backward,
                differentiable=False,
            ),
        ),
        out=None,
        error_inputs=_glu_error_inputs(name),
        grad_samples=_glu_grad_samples,
        supports_gradgrad=True,
        module=lambda f: torch_rs.nn.GatedMLP(
            torch.nn.Linear(f, 2 * f), torch.nn.Linear(f, 2 * f), torch.nn.Linear(2 * f, f),
            activation,
        ),
        patched_module=patched_module,
        compiled_ops=(f"torch.ops.rs.{name}.default", f"torch.ops.rs.{name}_backward.default"),
    )


def _llama_mlp(features):
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaMLP

    config = LlamaConfig(hidden_size=features, intermediate_size=2 * features,
                         num_attention_heads=2, num_key_value_heads=1)
    return LlamaMLP(config)


def _gemma_mlp(features):
    from transformers import GemmaConfig
    from transformers.models.gemma.modeling_gemma import GemmaMLP

    config = GemmaConfig(hidden_size=features, intermediate_size=2 * features,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                         hidden_activation="gelu_pytorch_tanh")
    return GemmaMLP(config)


def _gelu_exact(x):
    return x * torch.sigmoid(2 * 0.7978845608028654 * (x + 0.044715 * x * x * x))


# float32: products of inputs of magnitude ~10 put the backward's error at up to ~3e-6 of
# the float64 reference (torch's own float32 autograd: ~1.2e-6 on the same draws); the soak
# test's random tensors reach the tails, hence the bound.
SILU_MUL = _glu_info(
    "silu_mul", torch.nn.functional.silu, lambda x: x * torch.sigmoid(x), "silu", _llama_mlp,
    {torch.float32: 8e-6, torch.float64: 1e-13},
)
GELU_TANH_MUL = _glu_info(
    "gelu_tanh_mul", lambda x: F.gelu(x, approximate="tanh"), _gelu_exact, "gelu_tanh",
    _gemma_mlp,
    {torch.float32: 4e-6, torch.float64: 1e-12},
)

# ---- rs::rope ------------------------------------------------------------------------------------


def rope_one_torch(x, cos, sin, unsqueeze_dim):
    """transformers' apply_rotary_pos_emb for one tensor, with partial rotary (the first
    cos.shape[-1] dimensions rotate, the rest pass through, as Phi-3 / GPT-NeoX models do)."""
    r = cos.shape[-1]
    cos, sin = cos.unsqueeze(unsqueeze_dim), sin.unsqueeze(unsqueeze_dim)
    xr, xp = x[..., :r], x[..., r:]
    x1, x2 = xr[..., : r // 2], xr[..., r // 2 :]
    out = xr * cos + torch.cat((-x2, x1), dim=-1) * sin
    return torch.cat((out, xp), dim=-1) if r < x.shape[-1] else out


def rope_torch(q, k, cos, sin, unsqueeze_dim=1):
    return rope_one_torch(q, cos, sin, unsqueeze_dim), rope_one_torch(k, cos, sin, unsqueeze_dim)


def _rope_reference(q, k, cos, sin, unsqueeze_dim=1):
    return rope_torch(q.double(), k.double(), cos.double(), sin.double(), unsqueeze_dim)


def _rope_inputs(dtype, large=False):
    """(name, q, k, cos, sin, unsqueeze_dim, torch_layout)."""
    g = torch.Generator().manual_seed(13)

    def t(*shape):
        return torch.randn(*shape, generator=g).to(dtype)

    if large:
        return [
            ("large", t(1, 32, 256, 128), t(1, 8, 256, 128), t(1, 256, 128), t(1, 256, 128), 1,
             True),
            ("large_transposed", t(2, 256, 16, 64).transpose(1, 2), t(2, 256, 4, 64).transpose(1, 2),
             t(2, 256, 64), t(2, 256, 64), 1, True),
        ]
    return [
        ("contiguous", t(2, 4, 5, 16), t(2, 2, 5, 16), t(1, 5, 16), t(1, 5, 16), 1, True),
        ("transposed", t(2, 5, 4, 16).transpose(1, 2), t(2, 5, 2, 16).transpose(1, 2),
         t(2, 5, 16), t(2, 5, 16), 1, True),
        ("partial", t(2, 4, 5, 16), t(2, 1, 5, 16), t(2, 5, 8), t(2, 5, 8), 1, False),
        ("unsqueeze2", t(2, 5, 4, 16), t(2, 5, 2, 16), t(2, 5, 16), t(2, 5, 16), 2, True),
        ("three_dim", t(4, 5, 16), t(2, 5, 16), t(5, 16), t(5, 16), 0, True),
        ("sliced_heads", t(2, 8, 5, 16)[:, ::2], t(2, 4, 5, 16)[:, 1::2], t(1, 5, 16),
         t(1, 5, 16), 1, False),
        ("head_dim_two", t(3, 2, 4, 2), t(3, 1, 4, 2), t(3, 4, 2), t(3, 4, 2), 1, True),
        ("empty", t(0, 4, 5, 16), t(0, 2, 5, 16), t(1, 5, 16), t(1, 5, 16), 1, True),
        ("large_rows", t(1, 8, 300, 64), t(1, 2, 300, 64), t(1, 300, 64), t(1, 300, 64), 1, True),
    ]


def _rope_samples(dtype, requires_grad, large=False):
    return [
        SampleInput(
            name,
            (_requiring_grad(q, requires_grad), _requiring_grad(k, requires_grad), c, s, dim),
            torch_layout=same_layout,
        )
        for name, q, k, c, s, dim, same_layout in _rope_inputs(dtype, large)
    ]


def _rope_backward_samples(dtype, requires_grad, large=False):
    g = torch.Generator().manual_seed(14)
    samples = []
    for name, q, k, c, s, dim, _ in _rope_inputs(dtype, large):
        grad = torch.randn(q.shape, generator=g).to(dtype)
        samples.append(SampleInput(name, (_requiring_grad(grad, requires_grad), c, s, dim),
                                   torch_layout=False))
    return samples


def _rope_backward_reference(grad, cos, sin, unsqueeze_dim):
    x = torch.zeros(grad.shape, dtype=torch.float64, requires_grad=True)
    with torch.enable_grad():
        y = rope_one_torch(x, cos.double(), sin.double(), unsqueeze_dim)
        (dx,) = torch.autograd.grad(y, x, grad.double())
    return dx


def _rope_backward_half_reference(grad, cos, sin, unsqueeze_dim):
    x = torch.zeros(grad.shape, dtype=grad.dtype, requires_grad=True)
    with torch.enable_grad():
        y = rope_one_torch(x, cos, sin, unsqueeze_dim)
        (dx,) = torch.autograd.grad(y, x, grad)
    return dx


def _rope_vmap_samples():
    g = torch.Generator().manual_seed(15)
    q = torch.randn(3, 2, 4, 5, 8, generator=g)
    k = torch.randn(3, 2, 2, 5, 8, generator=g)
    cos = torch.randn(2, 5, 8, generator=g)
    sin = torch.randn(2, 5, 8, generator=g)
    return [
        ((q, k, cos, sin, 1), (0, 0, None, None, None)),
        ((q, k[0], cos, sin, 1), (0, None, None, None, None)),
        ((q.movedim(0, 2), k, cos, sin, 1), (2, 0, None, None, None)),
        ((q, k, torch.randn(3, 2, 5, 8, generator=g), sin, 1), (0, 0, 0, None, None)),
    ]


def _rope_grad_samples():
    g = torch.Generator().manual_seed(16)

    def t(*shape, grad=True):
        x = torch.randn(*shape, generator=g, dtype=torch.float64)
        return x.requires_grad_() if grad else x

    return [
        SampleInput("gqa", (t(2, 4, 3, 8), t(2, 2, 3, 8), t(1, 3, 8, grad=False),
                            t(1, 3, 8, grad=False), 1)),
        SampleInput("partial_transposed", (t(2, 3, 4, 8).transpose(1, 2), t(2, 3, 1, 8).transpose(1, 2),
                                           t(2, 3, 4, grad=False), t(2, 3, 4, grad=False), 1)),
    ]


def _rope_error_inputs() -> Iterable[ErrorInput]:
    ops = torch.ops.rs
    q, k = torch.randn(1, 2, 3, 8), torch.randn(1, 1, 3, 8)
    cos, sin = torch.randn(1, 3, 8), torch.randn(1, 3, 8)
    yield ErrorInput("q/int", lambda: ops.rope(q.long(), k, cos, sin), TypeError, "int64")
    yield ErrorInput("meta/int", lambda: ops.rope(q.long().to("meta"), k.to("meta"),
                                                  cos.to("meta"), sin.to("meta")), TypeError,
                     "int64")
    yield ErrorInput("cos/dtype", lambda: ops.rope(q, k, cos.double(), sin), RuntimeError, "dtype")
    yield ErrorInput("cos/odd", lambda: ops.rope(q, k, cos[..., :3], sin[..., :3]), RuntimeError,
                     "even")
    yield ErrorInput("cos/too_wide", lambda: ops.rope(q[..., :4], k[..., :4], cos, sin),
                     RuntimeError, "no larger")
    yield ErrorInput("cos/positions", lambda: ops.rope(q, k, cos[:, :2], sin[:, :2]),
                     RuntimeError, "size")
    yield ErrorInput(
        "cos/requires_grad",
        lambda: ops.rope(q, k, cos.clone().requires_grad_(), sin),
        NotImplementedError,
        "cos and sin",
    )


class RopeUse(torch.nn.Module):
    """A module using rs::rope on a (batch, features) input as both q and k."""

    def __init__(self, features: int):
        super().__init__()
        angles = torch.linspace(0.0, 3.0, features)
        self.register_buffer("cos", angles.cos())
        self.register_buffer("sin", angles.sin())

    def forward(self, x):
        q, k = torch.ops.rs.rope(x, x * 0.5, self.cos, self.sin, 0)
        return q + k


ROPE = OpInfo(
    name="rope",
    overloads=(
        Overload(
            torch.ops.rs.rope.default,
            _rope_samples,
            reference=_rope_reference,
            tolerance={torch.float32: 1e-6, torch.float64: 1e-14},
            torch_equivalent=rope_torch,
            half_reference=rope_torch,
            vmap_samples=_rope_vmap_samples,
        ),
        Overload(
            torch.ops.rs.rope_backward.default,
            _rope_backward_samples,
            reference=_rope_backward_reference,
            tolerance={torch.float32: 1e-6, torch.float64: 1e-14},
            half_reference=_rope_backward_half_reference,
        ),
    ),
    out=None,
    error_inputs=_rope_error_inputs,
    grad_samples=_rope_grad_samples,
    supports_gradgrad=True,
    module=RopeUse,
    patched_module=None,
    compiled_ops=("torch.ops.rs.rope.default", "torch.ops.rs.rope_backward.default"),
    opcheck_cases=(
        (torch.float32, True, "contiguous"),
        (torch.float64, True, "transposed"),
        (torch.bfloat16, True, "partial"),
        (torch.float16, False, "unsqueeze2"),
        (torch.float32, False, "sliced_heads"),
        (torch.float64, True, "three_dim"),
        (torch.float32, False, "empty"),
    ),
)

# ---- rs::cross_entropy ---------------------------------------------------------------------------


def cross_entropy_torch(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """transformers' causal-LM loss: F.cross_entropy on the logits upcast to float32."""
    input = input.float() if input.dtype in HALF_DTYPES else input
    return F.cross_entropy(input, target, ignore_index=ignore_index, reduction=reduction,
                           label_smoothing=label_smoothing)


def _cross_entropy_reference(input, target, ignore_index, reduction, label_smoothing):
    return F.cross_entropy(input.double(), target, ignore_index=ignore_index,
                           reduction=reduction, label_smoothing=label_smoothing)


def _cross_entropy_inputs(dtype, large=False):
    """(name, logits, target, ignore_index, reduction, label_smoothing)."""
    g = torch.Generator().manual_seed(17)

    def logits(*shape):
        return (torch.randn(*shape, generator=g) * 3).to(dtype)

    def target(n, v):
        return torch.randint(0, v, (n,), generator=g)

    if large:
        t = target(256, 4096)
        t[::7] = -100
        return [
            ("large", logits(256, 4096), t, -100, "mean", 0.0),
            ("large_strided", logits(256, 8192)[:, ::2], target(256, 4096), -100, "sum", 0.1),
        ]
    ignored = target(8, 10)
    ignored[::3] = -100
    return [
        ("contiguous", logits(6, 10), target(6, 10), -100, "mean", 0.0),
        ("transposed", logits(10, 6).t(), target(6, 10), -100, "sum", 0.0),
        ("sliced", logits(12, 20)[::2, ::2], target(6, 10), -100, "none", 0.0),
        ("smoothing", logits(5, 7), target(5, 7), -100, "mean", 0.1),
        ("ignored", logits(8, 10), ignored, -100, "mean", 0.2),
        ("all_ignored", logits(3, 4), torch.full((3,), -100), -100, "mean", 0.0),
        ("custom_ignore", logits(8, 5), target(8, 5), 3, "sum", 0.0),
        ("one_class", logits(4, 1), torch.zeros(4, dtype=torch.int64), -100, "none", 0.0),
        ("empty", logits(0, 5), target(0, 5), -100, "none", 0.0),
        ("wide", logits(3, 3000), target(3, 3000), -100, "mean", 0.05),
    ]


def _cross_entropy_samples(dtype, requires_grad, large=False):
    return [
        SampleInput(name, (_requiring_grad(x, requires_grad), t, ii, red, eps))
        for name, x, t, ii, red, eps in _cross_entropy_inputs(dtype, large)
    ]


def _cross_entropy_backward_samples(dtype, requires_grad, large=False):
    g = torch.Generator().manual_seed(18)
    samples = []
    for name, x, t, ii, red, eps in _cross_entropy_inputs(dtype, large):
        loss, lse = torch.ops.rs.cross_entropy_forward(x, t, ii, red, eps)
        grad = torch.randn(loss.shape, generator=g, dtype=loss.dtype)
        args = (grad, _requiring_grad(x, requires_grad), t, lse, ii, red, eps)
        samples.append(SampleInput(name, args, torch_layout=False))
    return samples


def _cross_entropy_backward_reference(grad, input, target, lse, ignore_index, reduction,
                                      label_smoothing):
    x = input.detach().double().requires_grad_()
    with torch.enable_grad():
        loss = F.cross_entropy(x, target, ignore_index=ignore_index, reduction=reduction,
                               label_smoothing=label_smoothing)
        (dx,) = torch.autograd.grad(loss, x, grad.double())
    return dx


def _cross_entropy_vmap_samples():
    g = torch.Generator().manual_seed(19)
    x = torch.randn(3, 4, 7, generator=g)
    t = torch.randint(0, 7, (3, 4), generator=g)
    return [
        ((x, t, -100, "mean", 0.0), (0, 0, None, None, None)),
        ((x, t[0], -100, "none", 0.1), (0, None, None, None, None)),
    ]


def _cross_entropy_grad_samples():
    g = torch.Generator().manual_seed(20)

    def x(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_()

    t = torch.randint(0, 6, (5,), generator=g)
    t[1] = -100
    return [
        SampleInput("mean", (x(5, 6), t, -100, "mean", 0.0)),
        SampleInput("sum_smoothing", (x(5, 6), t, -100, "sum", 0.2)),
        SampleInput("none_transposed", (x(6, 5).t(), t, -100, "none", 0.1)),
    ]


def _cross_entropy_error_inputs() -> Iterable[ErrorInput]:
    ops = torch.ops.rs
    x = torch.randn(4, 5)
    t = torch.tensor([0, 1, 2, 3])
    yield ErrorInput("input/int", lambda: ops.cross_entropy(x.long(), t), TypeError, "int64")
    yield ErrorInput("meta/int", lambda: ops.cross_entropy(x.long().to("meta"), t.to("meta")),
                     TypeError, "int64")
    yield ErrorInput("input/3d", lambda: ops.cross_entropy(x[None], t), RuntimeError, "(N, C)")
    yield ErrorInput("target/float", lambda: ops.cross_entropy(x, t.float()), RuntimeError,
                     "int64")
    yield ErrorInput("target/shape", lambda: ops.cross_entropy(x, t[:3]), RuntimeError, "shape")
    yield ErrorInput("target/out_of_bounds", lambda: ops.cross_entropy(x, t + 2), RuntimeError,
                     "out of bounds")
    yield ErrorInput("reduction", lambda: ops.cross_entropy(x, t, -100, "avg"), ValueError,
                     "reduction")
    yield ErrorInput("label_smoothing", lambda: ops.cross_entropy(x, t, -100, "mean", 1.5),
                     RuntimeError, "label_smoothing")


class CrossEntropyUse(torch.nn.Module):
    """A module scaling its input by the cross-entropy of the input against fixed classes."""

    def forward(self, x):
        target = torch.arange(x.shape[0]) % x.shape[1]
        return x * torch.ops.rs.cross_entropy(x, target, -100, "mean", 0.1)


CROSS_ENTROPY = OpInfo(
    name="cross_entropy",
    overloads=(
        Overload(
            torch.ops.rs.cross_entropy.default,
            _cross_entropy_samples,
            reference=_cross_entropy_reference,
            tolerance={torch.float32: 2e-6, torch.float64: 1e-12},
            torch_equivalent=cross_entropy_torch,
            half_reference=cross_entropy_torch,
            vmap_samples=_cross_entropy_vmap_samples,
            result_dtype=lambda d: torch.float64 if d == torch.float64 else torch.float32,
        ),
        Overload(
            torch.ops.rs.cross_entropy_backward.default,
            _cross_entropy_backward_samples,
            reference=_cross_entropy_backward_reference,
            tolerance={torch.float32: 1e-6, torch.float64: 1e-13, torch.bfloat16: 8e-3,
                       torch.float16: 1e-3},
            differentiable=False,
        ),
    ),
    out=None,
    error_inputs=_cross_entropy_error_inputs,
    grad_samples=_cross_entropy_grad_samples,
    supports_gradgrad=True,
    module=lambda features: CrossEntropyUse(),
    patched_module=None,
    compiled_ops=("torch.ops.rs.cross_entropy_forward.default",
                  "torch.ops.rs.cross_entropy_backward.default"),
    opcheck_cases=(
        (torch.float32, True, "contiguous"),
        (torch.float64, True, "transposed"),
        (torch.bfloat16, True, "smoothing"),
        (torch.float16, False, "ignored"),
        (torch.float32, False, "sliced"),
        (torch.float64, True, "custom_ignore"),
        (torch.float32, False, "empty"),
    ),
)

OP_DB: list[OpInfo] = [
    FAST_GELU, RMS_NORM, ADD_RMS_NORM, SILU_MUL, GELU_TANH_MUL, ROPE, CROSS_ENTROPY,
]
