"""torch_rs ops in processes forked after the parent ran ops in parallel.

The ops run on PyTorch's own intra-op pool, so after ``fork()`` they behave exactly as PyTorch's
own ops do: PyTorch's OpenMP pool does not survive a fork, and a forked child must call
``torch.set_num_threads(1)`` before running ops (what PyTorch's DataLoader workers do). These
tests pin down that behaviour, with a timeout so that a hang fails instead of blocking.
"""

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import multiprocessing as mp
    import torch
    import torch_rs

    x = torch.randn(1 << 20, generator=torch.Generator().manual_seed(0))
    torch.ops.rs.fast_gelu(x)  # parallel in the parent (over the inline threshold)

    def run(_):
        torch.set_num_threads(1)
        ours = torch.ops.rs.fast_gelu(x)
        reference = torch.nn.functional.gelu(x, approximate="tanh")
        return bool(torch.allclose(ours, reference, rtol=1e-6, atol=1e-6))

    if __name__ == "__main__":
        with mp.get_context("fork").Pool(2) as pool:
            print("children", pool.map_async(run, range(2)).get(timeout=60))
    """
)


def test_op_in_forked_child_with_one_thread_matches_torch(tmp_path):
    script = tmp_path / "fork_op.py"
    script.write_text(CHILD)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "children [True, True]" in result.stdout
