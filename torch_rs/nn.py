"""Modules built on the rs:: operators."""

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
