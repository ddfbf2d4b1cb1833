"""``benchmarks._common.alternating``: what every per-core table's fairness rests on (the cases
in one order, then the reverse, round after round), and each case's results in round order."""

from __future__ import annotations

from benchmarks._common import alternating


def test_cases_alternate_their_order_and_keep_results_per_case() -> None:
    calls: list[str] = []

    def run(case: str) -> int:
        calls.append(case)
        return len(calls)

    out = alternating(["a", "b", "c"], 3, run)
    assert calls == ["a", "b", "c", "c", "b", "a", "a", "b", "c"]
    assert out == {"a": [1, 6, 7], "b": [2, 5, 8], "c": [3, 4, 9]}
