"""An output that cannot be allocated raises what torch's own op raises (RuntimeError with
libtorch's allocator message), and the process goes on."""

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import resource
    import torch
    import torch_rs

    resource.setrlimit(resource.RLIMIT_AS, (24 << 30, 24 << 30))
    x = torch.zeros(1).expand(1 << 34)  # 64 GiB of float32 once materialised

    def error(call):
        try:
            call()
        except Exception as e:  # noqa: BLE001 - comparing whatever is raised
            return type(e).__name__, str(e).splitlines()[0]
        return None

    theirs = error(lambda: torch.nn.functional.gelu(x, approximate="tanh"))
    assert theirs is not None and "can't allocate memory" in theirs[1], theirs
    assert error(lambda: torch.ops.rs.fast_gelu(x)) == theirs
    assert error(lambda: torch.ops.rs.fast_gelu_backward(x, x)) == theirs
    small = torch.linspace(-3, 3, 7)
    assert torch.allclose(torch.ops.rs.fast_gelu(small), torch.nn.functional.gelu(small, approximate="tanh"))
    print("survived", theirs[0])
    """
)


def test_unallocatable_output_raises_torchs_error_and_the_process_goes_on():
    result = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "survived RuntimeError" in result.stdout
