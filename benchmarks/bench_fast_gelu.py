"""fast_gelu: ``torch.ops.rs.fast_gelu`` against ``F.gelu(x, approximate='tanh')``.

Forward with a fresh output, forward into an existing buffer (out=) and backward
(``rs::fast_gelu_backward`` against ``aten::gelu_backward``), at 1K, 64K, 1M and 16M elements, in
float32 and bfloat16, with ``torch.set_num_threads(N_THREADS)``. The input (standard normal times 3)
is generated once per run in ``setup_cache`` with numpy; torch is imported only in ``setup``, and
the torch_rs rows are skipped when torch_rs cannot be imported.
"""

import numpy as np

from .common import N_THREADS, SEED, save_array

SIZES = [1024, 65536, 1048576, 16777216]
DTYPES = ["float32", "bfloat16"]
IMPLS = ["torch_rs", "torch"]


def import_torch(impl):
    """Import torch (and torch_rs for impl='torch_rs'); NotImplementedError (asv: skipped) if absent."""
    try:
        import torch
    except ImportError as exc:
        raise NotImplementedError("torch is not installed") from exc
    if impl == "torch_rs":
        try:
            import torch_rs  # noqa: F401  (registers torch.ops.rs.*)
        except ImportError as exc:
            raise NotImplementedError(f"torch_rs is not importable: {exc}") from exc
    elif impl != "torch":
        raise ValueError(impl)
    return torch


class FastGelu:
    params = [SIZES, DTYPES, IMPLS]
    param_names = ["size", "dtype", "impl"]
    repeat = (3, 10, 10.0)
    warmup_time = 0.05
    rounds = 2
    timeout = 300

    def setup_cache(self):
        rng = np.random.default_rng([SEED, 1])
        x = (3.0 * rng.standard_normal(max(SIZES))).astype(np.float32)
        g = rng.standard_normal(max(SIZES)).astype(np.float32)
        return save_array("gelu-x", x), save_array("gelu-grad", g)

    def setup(self, paths, size, dtype, impl):
        torch = import_torch(impl)
        torch.set_num_threads(N_THREADS)
        tdtype = getattr(torch, dtype)
        x_path, g_path = paths
        self.x = torch.from_numpy(np.load(x_path, mmap_mode="r")[:size].copy()).to(tdtype)
        self.grad = torch.from_numpy(np.load(g_path, mmap_mode="r")[:size].copy()).to(tdtype)
        self.out = torch.empty_like(self.x)
        if impl == "torch_rs":
            op, op_bwd = torch.ops.rs.fast_gelu, torch.ops.rs.fast_gelu_backward
            self.forward = op
            self.forward_out = lambda x, out: op.out(x, out=out)
            self.backward = op_bwd
        else:
            gelu_out = torch.ops.aten.gelu.out
            gelu_bwd = torch.ops.aten.gelu_backward.default
            fgelu = torch.nn.functional.gelu
            self.forward = lambda x: fgelu(x, approximate="tanh")
            self.forward_out = lambda x, out: gelu_out(x, approximate="tanh", out=out)
            self.backward = lambda g, x: gelu_bwd(g, x, approximate="tanh")

    def time_forward(self, paths, size, dtype, impl):
        self.forward(self.x)

    def time_forward_out(self, paths, size, dtype, impl):
        self.forward_out(self.x, self.out)

    def time_backward(self, paths, size, dtype, impl):
        self.backward(self.grad, self.x)
