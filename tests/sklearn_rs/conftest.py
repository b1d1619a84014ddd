"""Shared fixtures for the sklearn_rs test suite.

Everything is compared against stock scikit-learn run in the same process on the same inputs.
"""

import pytest
from skrs_utils import make_blobs_data


@pytest.fixture
def blobs():
    return make_blobs_data()


@pytest.fixture(params=["sklearn", "sklearn_rs"])
def impl(request):
    return request.param


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "needs_kernel_change(reason): fails until the Rust kernels change as the reason says",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test marked needs_kernel_change says which kernel change it waits for."""
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("needs_kernel_change")
    if marker is not None and report.failed:
        report.sections.append(("needs a kernel change", marker.args[0]))
