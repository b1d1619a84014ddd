"""fast_gelu: ``torch.ops.rs.fast_gelu`` against ``F.gelu(x, approximate='tanh')``, eager and
under ``torch.compile``.

Forward with a fresh output, forward into an existing buffer (out=; no compiled form) and
backward (``rs::fast_gelu_backward`` against ``aten::gelu_backward``), at 1K, 64K, 1M and 16M
elements, in float32 and bfloat16, with ``torch.set_num_threads(N_THREADS)``. The input
(standard normal times 3) is generated once per run in ``setup_cache`` with numpy; torch is
imported only in ``setup``, and the torch_rs rows are skipped when torch_rs cannot be imported.
"""

import numpy as np

from .common import SEED, TORCH_PEERS, OpBenchmark, case_size, save_array, skip_for_torch_compile

SIZES = [1024, 65536, 1048576, 16777216]


def _cache_elements():
    """Elements of the cached input (the largest case; smoke mode: the one tiny size)."""
    return case_size(max(SIZES), 1024)
DTYPES = ["float32", "bfloat16"]


class FastGelu(OpBenchmark):
    params = [SIZES, DTYPES, TORCH_PEERS]
    param_names = ["size", "dtype", "impl"]
    timeout = 300
    not_compiled = ("forward_out",)

    def setup_cache(self):
        rng = np.random.default_rng([SEED, 1])
        n = _cache_elements()
        x = (3.0 * rng.standard_normal(n)).astype(np.float32)
        g = rng.standard_normal(n).astype(np.float32)
        return save_array("gelu-x", x), save_array("gelu-grad", g)

    def make_inputs(self, torch, paths, size, dtype):
        tdtype = getattr(torch, dtype)
        x_path, g_path = paths
        size = case_size(size, 1024)  # smoke mode: one size, one compiled graph per dtype
        x = torch.from_numpy(np.load(x_path, mmap_mode="r")[:size].copy()).to(tdtype)
        grad = torch.from_numpy(np.load(g_path, mmap_mode="r")[:size].copy()).to(tdtype)
        return {"x": x, "grad": grad, "out": torch.empty_like(x)}

    def ours(self, torch):
        op, op_bwd = torch.ops.rs.fast_gelu, torch.ops.rs.fast_gelu_backward
        return {"forward": op, "forward_out": lambda x, out: op.out(x, out=out),
                "backward": op_bwd}

    def reference(self, torch):
        gelu_out = torch.ops.aten.gelu.out
        gelu_bwd = torch.ops.aten.gelu_backward.default
        fgelu = torch.nn.functional.gelu
        return {
            "forward": lambda x: fgelu(x, approximate="tanh"),
            "forward_out": lambda x, out: gelu_out(x, approximate="tanh", out=out),
            "backward": lambda g, x: gelu_bwd(g, x, approximate="tanh"),
        }

    def warmup_args(self):
        return {"forward": (self.x,), "backward": (self.grad, self.x)}

    def time_forward(self, *params):
        """One forward call on the same input, a new output each call (freed before the next)."""
        self.forward(self.x)

    @skip_for_torch_compile(SIZES, DTYPES)
    def time_forward_out(self, *params):
        """One forward call writing into the same, already faulted-in output buffer (out=)."""
        self.forward_out(self.x, self.out)

    def time_backward(self, *params):
        """One backward-kernel call (gradient w.r.t. the input) on the same grad and input."""
        self.backward(self.grad, self.x)
