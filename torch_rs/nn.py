"""Modules built on the rs:: operators."""

from __future__ import annotations

import torch


class FastGELU(torch.nn.Module):
    """Drop-in for ``torch.nn.GELU(approximate="tanh")`` backed by ``rs::fast_gelu``.

    Like ``nn.GELU`` it has no parameters or buffers, so swapping one for the other leaves a
    model's ``state_dict`` unchanged.
    """

    def __init__(self, approximate: str = "tanh") -> None:
        super().__init__()
        if approximate != "tanh":
            raise ValueError(
                f"FastGELU computes the tanh approximation only, got approximate={approximate!r}; "
                "use torch.nn.GELU for the exact form"
            )
        self.approximate = approximate

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        # Spelled out (not a cached overload) so that TorchScript can compile it too.
        return torch.ops.rs.fast_gelu(input)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class RMSNorm(torch.nn.Module):
    """RMSNorm over the last dimension backed by ``rs::rms_norm``: a drop-in for the RMSNorm
    modules of ``mode`` (``"llama"``: ``LlamaRMSNorm`` and the Mistral/Qwen2/Qwen3/Phi-3 copies;
    ``"gemma"``: ``GemmaRMSNorm`` and Gemma 2/3's, whose weight is used as ``1 + weight``;
    ``"t5"``: ``T5LayerNorm``; ``"torch"``: ``torch.nn.RMSNorm`` over one dimension).

    Its only parameter is ``weight`` (None for ``nn.RMSNorm(elementwise_affine=False)``), so
    swapping it for the module it replaces leaves the ``state_dict`` unchanged.
    """

    def __init__(
        self,
        hidden_size: int,
        eps: float | None = 1e-6,
        mode: str = "llama",
        elementwise_affine: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if mode not in ("llama", "gemma", "t5", "torch"):
            raise ValueError(f"mode must be 'llama', 'gemma', 't5' or 'torch', got {mode!r}")
        self.hidden_size = hidden_size
        self.eps = eps
        self.mode = mode
        if elementwise_affine:
            init = torch.zeros if mode == "gemma" else torch.ones
            self.weight = torch.nn.Parameter(init(hidden_size, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)

    @classmethod
    def from_module(cls, original: torch.nn.Module, mode: str, eps: float | None) -> "RMSNorm":
        """A drop-in sharing `original`'s weight Parameter (the same object)."""
        weight = original.weight
        module = cls(weight.shape[0] if weight is not None else 0, eps, mode, weight is not None,
                     device="meta")
        if weight is not None:
            module.weight = weight
        return module

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return torch.ops.rs.rms_norm(input, self.weight, self.eps, self.mode)

    def extra_repr(self) -> str:
        return f"{self.hidden_size}, eps={self.eps}, mode={self.mode!r}"


class GatedMLP(torch.nn.Module):
    """``down_proj(act(gate_proj(x)) * up_proj(x))`` with the gate and product fused in
    ``rs::silu_mul`` (``activation="silu"``) or ``rs::gelu_tanh_mul`` (``"gelu_tanh"``): the
    drop-in for the MLPs of Llama, Mistral, Qwen2/3 (SiLU) and Gemma 1-3 (tanh GELU). It holds
    the replaced MLP's own projection modules under their names, so parameters and state_dict
    keys are unchanged.
    """

    def __init__(self, gate_proj, up_proj, down_proj, activation: str = "silu") -> None:
        super().__init__()
        if activation not in ("silu", "gelu_tanh"):
            raise ValueError(f"activation must be 'silu' or 'gelu_tanh', got {activation!r}")
        self.gate_proj = gate_proj
        self.up_proj = up_proj
        self.down_proj = down_proj
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_proj(x), self.up_proj(x)
        if self.activation == "silu":
            return self.down_proj(torch.ops.rs.silu_mul(gate, up))
        return self.down_proj(torch.ops.rs.gelu_tanh_mul(gate, up))

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}"


class GateUpMLP(torch.nn.Module):
    """``down_proj(up * act(gate))`` with ``gate, up = gate_up_proj(x).chunk(2, -1)`` (one
    projection for both halves), the gate and product fused in ``rs::silu_mul`` or
    ``rs::gelu_tanh_mul``: the drop-in for Phi-3's MLP. It holds the replaced MLP's projection
    modules under their names, so parameters and state_dict keys are unchanged.
    """

    def __init__(self, gate_up_proj, down_proj, activation: str = "silu") -> None:
        super().__init__()
        if activation not in ("silu", "gelu_tanh"):
            raise ValueError(f"activation must be 'silu' or 'gelu_tanh', got {activation!r}")
        self.gate_up_proj = gate_up_proj
        self.down_proj = down_proj
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The halves are views of one projection; the kernels take them without a copy.
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        if self.activation == "silu":
            return self.down_proj(torch.ops.rs.silu_mul(gate, up))
        return self.down_proj(torch.ops.rs.gelu_tanh_mul(gate, up))

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}"
