"""Mini-batch k-means with Rust kernels, a drop-in for ``sklearn.cluster.MiniBatchKMeans``.

The estimator subclasses scikit-learn's ``MiniBatchKMeans`` (parameter validation, warnings,
``set_output``, feature names) and shares ``KMeansMixin`` with ``KMeans`` (scikit-learn's
``_BaseKMeans``: initialisation, ``predict``, ``transform``, ``score``). ``fit`` runs its whole
loop in Rust: the weighted minibatch draws, the assignment, the count-weighted center update,
the reassignment of small clusters and the early stopping on the smoothed inertia.
``partial_fit`` runs one such step on the batch it is given. Every random draw is the one
scikit-learn takes from the estimator's ``RandomState``, which is left where scikit-learn leaves
it.
"""

import ctypes
import numbers
import warnings

import numpy as np
from sklearn import get_config
from sklearn.base import _fit_context
from sklearn.cluster import MiniBatchKMeans as _SklearnMiniBatchKMeans
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import (
    _check_sample_weight,
    _is_arraylike_not_scalar,
    validate_data,
)

from sklearn_rs._base import samples_view
from sklearn_rs._kmeans_common import KMeansMixin, check_batch_probabilities
from sklearn_rs._threads import _core

# numpy's error for the `min` of an empty selection: scikit-learn's reassignment resets the
# reassigned clusters' counts to the smallest count kept, and raises this when none is kept.
EMPTY_MIN = "zero-size array to reduction operation minimum which has no identity"


def _print_events(events, n_steps):
    """scikit-learn's verbose output of the minibatch loop, from the events Rust recorded."""
    for kind, step, batch_inertia, ewa_inertia in events:
        if kind == "reassigned":
            print(f"[MiniBatchKMeans] Reassigning {step} cluster centers.")
        elif kind == "step" and ewa_inertia is None:
            print(f"Minibatch step {step}/{n_steps}: mean batch inertia: {batch_inertia}")
        elif kind == "step":
            print(
                f"Minibatch step {step}/{n_steps}: mean batch inertia: "
                f"{batch_inertia}, ewa inertia: {ewa_inertia}"
            )
        elif kind == "centers":
            print(f"Converged (small centers change) at step {step}/{n_steps}")
        else:
            print(f"Converged (lack of improvement in inertia) at step {step}/{n_steps}")


class _GeneratorState:
    """The MT19937 state of a ``RandomState`` handed to Rust and written back after.

    ``get_state`` and ``set_state`` copy the 624 words one by one (tens of microseconds, more
    than a small minibatch step), so where NumPy's state is laid out as checked once by
    :func:`_live_words` the words are read and written in place instead."""

    def __init__(self, random_state):
        self.random_state = random_state
        self.words = _live_words(random_state)
        if self.words is not None:
            self.key, self.pos = self.words[:_MT_WORDS], int(self.words[_MT_WORDS])
        else:
            self.name, self.key, self.pos, self.has_gauss, self.gauss = random_state.get_state()

    def advance_to(self, key, pos):
        if self.words is not None:
            self.words[:_MT_WORDS] = key
            self.words[_MT_WORDS] = pos
        else:
            self.random_state.set_state((self.name, key, pos, self.has_gauss, self.gauss))


_MT_WORDS = 624
_LIVE_LAYOUT = []


def _words_at(bit_generator):
    """NumPy's ``mt19937_state`` (624 key words, then the position) as a writable uint32 view."""
    address = bit_generator.ctypes.state_address
    return np.ctypeslib.as_array((ctypes.c_uint32 * (_MT_WORDS + 1)).from_address(address))


def _live_layout_checked():
    """Whether reading and writing ``_words_at`` gives what ``get_state``/``set_state`` do
    (checked once, on generators of its own)."""
    try:
        probe = np.random.RandomState(12345)
        probe.randint(0, 1000, 700)
        words = _words_at(probe._bit_generator)
        _, key, pos, _, _ = probe.get_state()
        if not (np.array_equal(words[:_MT_WORDS], key) and int(words[_MT_WORDS]) == pos):
            return False
        other = np.random.RandomState(7)
        other.randint(0, 1000, 10)
        _, key, pos, _, _ = other.get_state()
        words[:_MT_WORDS], words[_MT_WORDS] = key, pos
        return (np.array_equal(probe.randint(0, 2**31, 50), other.randint(0, 2**31, 50))
                and probe.get_state()[2] == other.get_state()[2])
    except Exception:  # noqa: BLE001 - any failure means: use get_state and set_state
        return False


def _live_words(random_state):
    """The live state words of a ``RandomState`` on NumPy's MT19937, or ``None``."""
    if not _LIVE_LAYOUT:
        _LIVE_LAYOUT.append(_live_layout_checked())
    bit_generator = getattr(random_state, "_bit_generator", None)
    if not _LIVE_LAYOUT[0] or type(bit_generator) is not np.random.MT19937:
        return None
    return _words_at(bit_generator)


def _mini_batch_step(X, sample_weight, centers, centers_new, weight_sums, random_state,
                     random_reassign=False, reassignment_ratio=0.01, verbose=False, n_threads=1):
    """One minibatch step in Rust, with the signature and in-place effects of scikit-learn's
    private ``sklearn.cluster._kmeans._mini_batch_step``: labels ``X`` against ``centers``,
    writes the updated centers to ``centers_new`` and the counts to ``weight_sums``, reassigns
    small clusters when ``random_reassign``, and returns the batch inertia against ``centers``.
    ``centers_new`` may be ``centers`` itself."""
    dtype = centers.dtype
    X = X.astype(dtype, copy=False)
    state = _GeneratorState(random_state)
    new, counts, inertia, n_reassigned, all_reassigned, key, pos = _core.minibatch_step(
        samples_view(X), np.ascontiguousarray(sample_weight, dtype=dtype),
        np.ascontiguousarray(centers).ravel(), np.ascontiguousarray(weight_sums, dtype=dtype),
        float(reassignment_ratio) if random_reassign else None,
        state.key, state.pos, max(1, int(n_threads)),
    )
    state.advance_to(key, pos)
    if verbose and n_reassigned:
        print(f"[MiniBatchKMeans] Reassigning {n_reassigned} cluster centers.")
    if all_reassigned:
        raise ValueError(EMPTY_MIN)
    centers_new[...] = new
    weight_sums[...] = counts
    return inertia


class MiniBatchKMeans(KMeansMixin, _SklearnMiniBatchKMeans):
    def _check_params_vs_input(self, X):
        super()._check_params_vs_input(X, default_n_init=3)
        # scikit-learn's batch_size and init_size resolution.
        self._batch_size = min(self.batch_size, X.shape[0])
        self._init_size = self.init_size
        if self._init_size is None:
            self._init_size = 3 * self._batch_size
            if self._init_size < self.n_clusters:
                self._init_size = 3 * self.n_clusters
        elif self._init_size < self.n_clusters:
            warnings.warn(
                (
                    f"init_size={self._init_size} should be larger than "
                    f"n_clusters={self.n_clusters}. Setting it to "
                    "min(3*n_clusters, n_samples)"
                ),
                RuntimeWarning,
                stacklevel=2,
            )
            self._init_size = 3 * self.n_clusters
        self._init_size = min(self._init_size, X.shape[0])

    def _validated_init(self, X):
        init = self.init
        if _is_arraylike_not_scalar(init):
            init = check_array(init, dtype=X.dtype, copy=True, order="C")
            self._validate_center_shape(X, init)
        return init

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        if self._fallback_reason(X):
            return self._run_sklearn("fit", X, y, sample_weight=sample_weight)
        X = validate_data(
            self,
            X,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            order="C",
            accept_large_sparse=False,
        )
        self._check_params_vs_input(X)
        random_state = check_random_state(self.random_state)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        self._n_threads = self._rs_n_threads()
        n_samples = X.shape[0]
        init = self._validated_init(X)

        # The validation set the candidate initialisations are scored on.
        validation_indices = random_state.randint(0, n_samples, self._init_size)
        X_valid = X[validation_indices]
        sample_weight_valid = sample_weight[validation_indices]
        best_inertia = None
        for init_idx in range(self._n_init):
            if self.verbose:
                print(f"Init {init_idx + 1}/{self._n_init} with method {init}")
            cluster_centers = self._init_centroids(
                X, x_squared_norms=None, init=init, random_state=random_state,
                init_size=self._init_size, sample_weight=sample_weight,
            )
            _, inertia = self._labels_inertia(
                X_valid, sample_weight_valid, centers=cluster_centers
            )
            if self.verbose:
                print(f"Inertia for init {init_idx + 1}/{self._n_init}: {inertia}")
            if best_inertia is None or inertia < best_inertia:
                init_centers = cluster_centers
                best_inertia = inertia

        check_batch_probabilities(sample_weight)
        n_steps = (self.max_iter * n_samples) // self._batch_size
        state = _GeneratorState(random_state)
        centers_init = np.ascontiguousarray(init_centers, dtype=X.dtype)
        run = _core.minibatch_fit(
            self._samples(X), sample_weight, centers_init.ravel(), self._batch_size, n_steps,
            float(self._tol), self.max_no_improvement, float(self.reassignment_ratio),
            bool(self.verbose), state.key, state.pos, self._n_threads,
        )
        state.advance_to(run["key"], run["pos"])
        if self.verbose:
            _print_events(run["events"], n_steps)
        if run["all_reassigned"]:
            raise ValueError(EMPTY_MIN)

        # scikit-learn's bookkeeping, which a later partial_fit continues from.
        self._counts = run["counts"]
        self._ewa_inertia = run["ewa_inertia"]
        self._ewa_inertia_min = run["ewa_inertia_min"]
        self._no_improvement = run["no_improvement"]
        self._n_since_last_reassign = run["n_since_last_reassign"]

        self.cluster_centers_ = run["centers"]
        self._n_features_out = self.cluster_centers_.shape[0]
        self.n_steps_ = run["n_steps"]
        self.n_iter_ = int(np.ceil((self.n_steps_ * self._batch_size) / n_samples))
        if self.compute_labels:
            self.labels_, self.inertia_ = self._labels_inertia(X, sample_weight)
        else:
            self.inertia_ = self._ewa_inertia * np.sum(sample_weight)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        if self._fallback_reason(X):
            return self._run_sklearn("partial_fit", X, y, sample_weight=sample_weight)
        has_centers = hasattr(self, "cluster_centers_")
        X = validate_data(
            self,
            X,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            order="C",
            accept_large_sparse=False,
            reset=not has_centers,
        )
        self._random_state = getattr(
            self, "_random_state", check_random_state(self.random_state)
        )
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        self.n_steps_ = getattr(self, "n_steps_", 0)

        if not has_centers:
            self._check_params_vs_input(X)
            self._n_threads = self._rs_n_threads()
            init = self._validated_init(X)
            self.cluster_centers_ = self._init_centroids(
                X, x_squared_norms=None, init=init, random_state=self._random_state,
                init_size=self._init_size, sample_weight=sample_weight,
            )
            self._counts = np.zeros(self.n_clusters, dtype=X.dtype)
            self._n_since_last_reassign = 0

        # The step runs in the centers' dtype, as the counts do; the labels against the new
        # centers in X's (scikit-learn's _labels_inertia after its step).
        dtype = self.cluster_centers_.dtype
        same_dtype = X.dtype == dtype
        self._step(
            X.astype(dtype, copy=False), sample_weight.astype(dtype, copy=False),
            self._random_reassign(), self.compute_labels and same_dtype, check_finite=False,
        )
        if self.compute_labels and not same_dtype:
            self.labels_, self.inertia_ = self._labels_inertia(X, sample_weight)
        self.n_steps_ += 1
        self._n_features_out = self.cluster_centers_.shape[0]
        return self

    _validated_partial_fit = partial_fit

    def partial_fit(self, X, y=None, sample_weight=None):
        # After the first call, a batch that validation would pass as it is (a C-contiguous
        # float array of the centers' dtype and the fitted width, given without feature names
        # to an estimator fitted without them) takes a path without scikit-learn's validation
        # machinery, whose fixed cost is larger than a small batch's arithmetic. It runs what
        # scikit-learn runs for a fitted estimator, with its errors: parameters are not
        # validated again, X is checked for NaN and infinity by the Rust pass that reads it,
        # and any other input takes the full path.
        if not (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.shape[0] > 0
            and (sample_weight is None or type(sample_weight) is np.ndarray)
        ):
            return self._validated_partial_fit(X, y, sample_weight)
        state = self.__dict__
        centers = state.get("cluster_centers_")
        if (
            centers is None
            or X.dtype != centers.dtype
            or X.dtype != state.get("_counts", centers).dtype
            or X.shape[1] != state.get("n_features_in_")
            or not X.flags.c_contiguous
            or not X.flags.aligned
            or "feature_names_in_" in state
            or "_callback_fit_ctx" in state
            or "_random_state" not in state
            or "n_steps_" not in state
            or not _seeds_as_before(self.random_state)
            or self._fallback_reason(X)
        ):
            return self._validated_partial_fit(X, y, sample_weight)
        if sample_weight is not None:
            try:
                sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
            except (ValueError, TypeError):
                # scikit-learn reports a problem of X first.
                return self._validated_partial_fit(X, y, sample_weight)
        # scikit-learn's _random_reassign, kept until the step has passed the finiteness check.
        n_since = self._n_since_last_reassign + self._batch_size
        reassign = bool((self._counts == 0).any()) or n_since >= 10 * self.n_clusters
        try:
            self._step(
                X, sample_weight, reassign, self.compute_labels,
                check_finite=not get_config()["assume_finite"],
                before_raise=lambda: self._set_reassign_count(reassign, n_since),
            )
        except ValueError as error:
            if str(error) == EMPTY_MIN:
                raise
            # NaN or infinity in X: the full path raises scikit-learn's error.
            return self._validated_partial_fit(X, y, sample_weight)
        self._set_reassign_count(reassign, n_since)
        self.n_steps_ += 1
        self._n_features_out = centers.shape[0]
        return self

    partial_fit.__doc__ = _SklearnMiniBatchKMeans.partial_fit.__doc__

    def _set_reassign_count(self, reassign, n_since):
        self._n_since_last_reassign = 0 if reassign else n_since

    def _step(self, X, sample_weight, random_reassign, compute_labels, check_finite,
              before_raise=None):
        """scikit-learn's ``_mini_batch_step`` on ``self`` (centers and counts updated in
        place), then with ``compute_labels`` ``labels_`` and ``inertia_`` against the new
        centers: one native call, which takes the generator's state only when the step may
        draw from it (reading and writing a ``RandomState``'s state costs more than the
        step). ``X`` and ``sample_weight`` (or ``None``) have the centers' dtype. Nothing
        changes when X holds NaN or infinity (with ``check_finite``: ValueError)."""
        centers = self.cluster_centers_
        args = [
            self._samples(X), sample_weight, np.ascontiguousarray(centers).ravel(), self._counts,
            float(self.reassignment_ratio) if random_reassign else None, None, 0,
            bool(compute_labels), check_finite, self._rs_n_threads(),
        ]
        generator = None
        done = _core.minibatch_partial_fit_step(*args)
        if done is None:
            generator = _GeneratorState(self._random_state)
            args[5], args[6] = generator.key, generator.pos
            done = _core.minibatch_partial_fit_step(*args)
        new_centers, counts, _, n_reassigned, all_reassigned, labelled, key, pos = done
        if generator is not None:
            generator.advance_to(key, pos)
        if self.verbose and n_reassigned:
            print(f"[MiniBatchKMeans] Reassigning {n_reassigned} cluster centers.")
        if all_reassigned:
            if before_raise is not None:
                before_raise()
            raise ValueError(EMPTY_MIN)
        centers[...] = new_centers
        self._counts[...] = counts
        if labelled is not None:
            self.labels_, self.inertia_ = labelled


def _seeds_as_before(random_state):
    """Whether scikit-learn's ``check_random_state(random_state)``, which its ``partial_fit``
    evaluates at every call, would succeed (its result is not used once the estimator has a
    generator)."""
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return True
    return isinstance(random_state, numbers.Integral) and 0 <= random_state < 2**32
