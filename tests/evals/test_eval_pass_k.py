"""pass^k = C(c, k) / C(n, k); pass@k = 1 - C(n - c, k) / C(n, k)."""

from __future__ import annotations

import pytest

from evals.pass_k import pass_at_k, pass_hat_k, pass_hat_k_curve


def test_pass_hat_k_values() -> None:
    assert pass_hat_k(3, 3, 3) == 1.0
    assert pass_hat_k(3, 2, 1) == pytest.approx(2 / 3)
    assert pass_hat_k(3, 2, 2) == pytest.approx(1 / 3)  # C(2,2)/C(3,2)
    assert pass_hat_k(3, 2, 3) == 0.0
    assert pass_hat_k(5, 4, 2) == pytest.approx(6 / 10)  # C(4,2)/C(5,2)
    assert pass_hat_k_curve(4, 3) == {1: 0.75, 2: 0.5, 3: 0.25, 4: 0.0}


def test_pass_at_k_and_bounds() -> None:
    assert pass_at_k(3, 1, 1) == pytest.approx(1 / 3)
    assert pass_at_k(3, 1, 3) == 1.0
    assert pass_at_k(3, 0, 2) == 0.0
    for bad in ((3, 4, 1), (3, 1, 0), (3, 1, 4)):
        with pytest.raises(ValueError):
            pass_hat_k(*bad)
