"""FairQueue: a free slot goes to the workspace with the fewest builds running; none takes every slot."""

from __future__ import annotations

import pytest

from openbook.worker.fair import FairQueue


def drain(queue: FairQueue[str]) -> list[tuple[str, str]]:
    started = []
    while (picked := queue.take()) is not None:
        started.append(picked)
    return started


def test_a_workspace_with_a_long_queue_leaves_a_slot_for_the_others() -> None:
    queue: FairQueue[str] = FairQueue(2)
    for i in range(5):
        queue.add("a", f"a{i}")
    assert drain(queue) == [("a", "a0")]  # the second slot stays free for another workspace
    queue.add("b", "b0")
    assert drain(queue) == [("b", "b0")]  # at once, not after a's queue
    queue.add("b", "b1")
    assert drain(queue) == []
    queue.done("a")
    assert drain(queue) == [("a", "a1")]  # a and b have one running each: a's turn came first
    queue.done("b")
    assert drain(queue) == [("b", "b1")]
    assert queue.waiting == 3 and queue.running == 2


def test_slots_go_round_robin_to_the_workspace_with_the_fewest_running() -> None:
    queue: FairQueue[str] = FairQueue(4)
    for key in "aaaabbc":
        queue.add(key, key)
    assert [k for k, _ in drain(queue)] == ["a", "b", "c", "a"]
    queue.done("c")
    assert [k for k, _ in drain(queue)] == ["b"]  # b has one running, a two
    queue.done("a")
    queue.done("a")
    assert [k for k, _ in drain(queue)] == ["a", "a"]  # nobody else waits; a never holds all four
    assert queue.running == 4 and queue.waiting == 0


def test_one_slot_serves_workspaces_in_turn_and_fifo_within_one() -> None:
    queue: FairQueue[str] = FairQueue(1)
    for item in ("a1", "a2", "a3", "b1", "b2"):
        queue.add(item[0], item)
    order = []
    while (picked := queue.take()) is not None:
        order.append(picked[1])
        queue.done(picked[0])
    assert order == ["a1", "b1", "a2", "b2", "a3"]


def test_a_worker_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        FairQueue(0)
