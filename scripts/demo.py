"""Showcase: the Rust implementations next to the libraries they replace, on the same inputs.

Prints whether the results agree and the measured speed ratio (best of a few runs, same
process). Run through `make demo`.
"""

import time
import warnings

import numpy as np


def best_time(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def kmeans_demo():
    from sklearn.cluster import KMeans as SklearnKMeans
    from sklearn.datasets import load_digits, make_blobs

    from sklearn_rs import KMeans

    digits = load_digits().data
    blobs, _ = make_blobs(n_samples=200_000, n_features=50, centers=32, random_state=0)
    print("== sklearn_rs.KMeans vs sklearn.cluster.KMeans ==")
    for name, X, k in [("digits (1797 x 64)", digits, 10), ("blobs (200000 x 50)", blobs, 32)]:
        init = X[np.random.RandomState(0).choice(len(X), k, replace=False)]
        params = dict(n_clusters=k, init=init, n_init=1, max_iter=100)
        ours, stock = KMeans(**params).fit(X), SklearnKMeans(**params).fit(X)
        same_labels = np.mean(ours.labels_ == stock.labels_)
        rel = abs(ours.inertia_ - stock.inertia_) / stock.inertia_
        t_ours = best_time(lambda: KMeans(**params).fit(X))
        t_stock = best_time(lambda: SklearnKMeans(**params).fit(X))
        print(
            f"{name}: same init -> labels agree {same_labels:.2%}, inertia rel. diff {rel:.1e}, "
            f"n_iter {ours.n_iter_} vs {stock.n_iter_}; fit {t_ours * 1e3:.1f} ms vs "
            f"{t_stock * 1e3:.1f} ms ({t_stock / t_ours:.2f}x)"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_ours = best_time(lambda: KMeans(n_clusters=k, random_state=0).fit(X))
            t_stock = best_time(lambda: SklearnKMeans(n_clusters=k, random_state=0).fit(X))
        print(
            f"{name}: default fit (k-means++) {t_ours * 1e3:.1f} ms vs {t_stock * 1e3:.1f} ms "
            f"({t_stock / t_ours:.2f}x)"
        )


def gelu_demo():
    print("== torch.ops.rs.fast_gelu vs F.gelu(approximate='tanh') ==")
    try:
        import torch
        import torch.nn as nn

        import torch_rs
    except ImportError as exc:
        print(f"torch_rs is not available ({exc}); skipping")
        return
    torch.manual_seed(0)
    torch.set_num_threads(2)

    def mlp(act):
        return nn.Sequential(nn.Linear(1024, 4096), act, nn.Linear(4096, 1024))

    stock = mlp(nn.GELU(approximate="tanh")).eval()
    ours = mlp(torch_rs.nn.FastGELU()).eval()
    ours.load_state_dict(stock.state_dict())
    x = torch.randn(256, 1024)
    with torch.inference_mode():
        diff = (ours(x) - stock(x)).abs().max().item()
        print(f"MLP 1024-4096-1024, batch 256: max |difference| {diff:.2e}")
        t_ours = best_time(lambda: ours(x), repeat=10)
        t_stock = best_time(lambda: stock(x), repeat=10)
        print(f"MLP forward {t_ours * 1e3:.2f} ms vs {t_stock * 1e3:.2f} ms ({t_stock / t_ours:.2f}x)")
        big = torch.randn(1 << 20)
        same = torch.allclose(torch.ops.rs.fast_gelu(big), torch.nn.functional.gelu(big, approximate="tanh"), atol=1e-6)
        t_ours = best_time(lambda: torch.ops.rs.fast_gelu(big), repeat=20)
        t_stock = best_time(lambda: torch.nn.functional.gelu(big, approximate="tanh"), repeat=20)
        print(
            f"GELU alone, 1M float32: agree {same}; {t_ours * 1e3:.3f} ms vs "
            f"{t_stock * 1e3:.3f} ms ({t_stock / t_ours:.2f}x)"
        )


if __name__ == "__main__":
    kmeans_demo()
    gelu_demo()
