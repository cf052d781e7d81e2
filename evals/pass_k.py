"""pass^k: the chance that k runs drawn from n all pass, C(c, k) / C(n, k) for c passes.

pass^k measures consistency (every try works), where pass@k measures "at least one of k
works": 1 - C(n - c, k) / C(n, k). Both are unbiased estimates from n runs (k <= n).
"""

from __future__ import annotations

from math import comb


def pass_hat_k(n: int, c: int, k: int) -> float:
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    return comb(c, k) / comb(n, k)


def pass_at_k(n: int, c: int, k: int) -> float:
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    return 1.0 - comb(n - c, k) / comb(n, k)


def pass_hat_k_curve(n: int, c: int) -> dict[int, float]:
    """pass^k for k = 1..n."""
    return {k: pass_hat_k(n, c, k) for k in range(1, n + 1)}
