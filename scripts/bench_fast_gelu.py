"""Quick side-by-side timings of rs::fast_gelu against F.gelu(approximate="tanh").

Usage: .venv/bin/python scripts/bench_fast_gelu.py [--threads N]
Prints the best (minimum) time per call of each variant over many short alternating repeats,
which filters out interference from other processes, and the speed ratio (torch / ours).
"""

import argparse
import time

import torch
import torch.nn.functional as F

import torch_rs


def calls_per_repeat(fn, target=0.005):
    fn()
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - start > target:
            return n
        n *= 2


def per_call(fn, n):
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def row(label, torch_fn, ours_fn, repeats=41):
    """Best seconds per call of each, measured in alternation so both see the same noise."""
    n_torch, n_ours = calls_per_repeat(torch_fn), calls_per_repeat(ours_fn)
    torch_times, our_times = [], []
    for _ in range(repeats):
        torch_times.append(per_call(torch_fn, n_torch))
        our_times.append(per_call(ours_fn, n_ours))
    t_torch, t_ours = min(torch_times), min(our_times)
    print(f"{label:<42} torch {t_torch * 1e6:9.1f} us   rs {t_ours * 1e6:9.1f} us   "
          f"x{t_torch / t_ours:5.2f}", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"kernels: {torch_rs._C.cpu_capability()}")
    gelu = lambda x: F.gelu(x, approximate="tanh")  # noqa: E731
    ours = torch.ops.rs.fast_gelu
    for n, dtype in [(1024, torch.float32), (1 << 20, torch.float32), (1 << 20, torch.bfloat16),
                     (1 << 20, torch.float16), (1 << 20, torch.float64), (1 << 24, torch.float32)]:
        x = torch.randn(n, dtype=dtype)
        row(f"forward {n} {dtype} fresh", lambda: gelu(x), lambda: ours(x))
        if n >= 1 << 20:
            out = torch.empty_like(x)
            row(f"forward {n} {dtype} out=", lambda: torch._C._nn.gelu(x, approximate="tanh", out=out),
                lambda: ours(x, out=out))
    x = torch.randn(1024)
    row("forward 1024 torch_rs.fast_gelu (python)", lambda: gelu(x), lambda: torch_rs.fast_gelu(x))
    module_t, module_r = torch.nn.GELU(approximate="tanh"), torch_rs.nn.FastGELU()
    row("forward 1024 nn module", lambda: module_t(x), lambda: module_r(x))
    xg = torch.randn(1024, requires_grad=True)
    row("forward 1024 requires_grad", lambda: gelu(xg), lambda: ours(xg))
    for n, dtype in [(1024, torch.float32), (1 << 20, torch.float32), (1 << 20, torch.bfloat16)]:
        x, g = torch.randn(n, dtype=dtype), torch.randn(n, dtype=dtype)
        row(f"backward {n} {dtype}",
            lambda: torch.ops.aten.gelu_backward(g, x, approximate="tanh"),
            lambda: torch.ops.rs.fast_gelu_backward(g, x))
    x = torch.randn(1 << 20, requires_grad=True)
    g = torch.randn(1 << 20)
    row("forward+backward autograd 1M f32",
        lambda: torch.autograd.grad(gelu(x), x, g),
        lambda: torch.autograd.grad(ours(x), x, g))
    x = torch.randn(1024, 1024).t()
    row("forward 1M f32 transposed", lambda: gelu(x), lambda: ours(x))
    x = torch.randn(8, 64, 64, 32).to(memory_format=torch.channels_last)
    row("forward 1M f32 channels_last", lambda: gelu(x), lambda: ours(x))


if __name__ == "__main__":
    main()
