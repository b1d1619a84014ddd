"""The native module: importing it registers the rs:: operators with PyTorch's dispatcher (the
operators themselves are reached through ``torch.ops.rs``)."""

def cpu_capability() -> str:
    """The vector instruction set the kernels use on this CPU: "avx512_bf16", "avx512", "avx2"
    or "portable"."""

def parallel_min_elements() -> int:
    """Tensors with fewer elements than this run on the calling thread only."""
