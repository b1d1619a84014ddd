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
