import pytest
import torch

import torch_rs  # noqa: F401  (registers the rs:: operators)

# The suite runs on two cores; torch must not oversubscribe them.
torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _two_threads():
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(2)
