"""Arrays whose data pointer is not a multiple of their item size (buffers received over a
network, as dask.distributed's are) are C-contiguous to NumPy and accepted by scikit-learn:
every estimator gives the results it gives on the same values in aligned memory."""

import numpy as np
import pytest
from estimator_specs import SPECS, call_method, fit


def unaligned(a):
    """A copy of ``a`` one byte off its buffer's start."""
    buffer = np.empty(a.nbytes + 1, dtype=np.uint8)[1:]
    copy = buffer.view(a.dtype).reshape(a.shape)
    copy[...] = a
    assert copy.flags.c_contiguous and not copy.flags.aligned
    return copy


@pytest.mark.parametrize("name", sorted(SPECS))
def test_unaligned_arrays_give_the_aligned_results(name):
    spec = SPECS[name]
    X, y = spec.data(60, 0)
    params = spec.comparable_params(X)
    weights = np.linspace(0.5, 2.0, len(X)) if spec.sample_weight else None
    fitted = []
    for copy in (np.array, unaligned):
        Xc, yc = copy(X), (None if y is None else copy(y))
        wc = None if weights is None else copy(weights)
        est = fit(spec.build(spec.ours, **params), Xc, yc, wc)
        fitted.append((est, [call_method(est, m, Xc, yc) for m in spec.methods]))
    (aligned, expected), (_, results) = fitted
    for method, a, b in zip(spec.methods, expected, results, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=method)
    if hasattr(aligned, "kneighbors"):
        np.testing.assert_array_equal(aligned.kneighbors(unaligned(X))[1],
                                      aligned.kneighbors(X)[1])
