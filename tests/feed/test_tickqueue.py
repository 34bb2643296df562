"""Tests of the bounded queue between the socket threads and the consumers.

No wall-clock assertions: waits are bounded by generous join timeouts that
only matter when something is broken (a consumer never woken).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kit.waiting import wait_until

from hkticks.feed.queue import DEFAULT_MAXSIZE, TickQueue

JOIN_S = 10.0  # only reached when a thread is stuck: the test then fails


def wait_until_waiting(q: TickQueue) -> None:
    """Block until the consumer is inside its wait (white-box: ``_waiting``)."""
    wait_until(lambda: q._waiting, JOIN_S, "the consumer to start waiting", interval=0.001)


def run_consumer(q: TickQueue, **kwargs: object) -> tuple[threading.Thread, list[list[object]]]:
    out: list[list[object]] = []
    thread = threading.Thread(
        target=lambda: out.append(q.get_batch(**kwargs)),  # type: ignore[arg-type]
        name="test-consumer",
        daemon=True,
    )
    thread.start()
    return thread, out


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        TickQueue(0)
    with pytest.raises(ValueError):
        TickQueue(-5)
    assert TickQueue().maxsize == DEFAULT_MAXSIZE


def test_bound_and_dropped_counting() -> None:
    q = TickQueue(3)
    assert [q.put(i) for i in range(5)] == [True, True, True, False, False]
    assert (len(q), q.dropped, q.put_count, q.high_water) == (3, 2, 3, 3)
    assert q.get_batch(timeout=0) == [0, 1, 2]
    # room again after draining; the dropped count is kept
    assert q.put(10) is True
    assert (len(q), q.dropped, q.put_count, q.high_water) == (1, 2, 4, 3)
    assert q.get_batch(timeout=0) == [10]


def test_high_water_tracks_the_deepest_point() -> None:
    q = TickQueue(100)
    for i in range(7):
        q.put(i)
    q.get_batch(max_items=5, timeout=0)
    q.put(7)
    assert (len(q), q.high_water) == (3, 7)


def test_put_event_ignores_the_bound() -> None:
    q = TickQueue(2)
    assert q.put("t1") and q.put("t2")
    assert q.put("t3") is False
    q.put_event("e1")
    q.put_event("e2")
    assert (len(q), q.dropped) == (4, 1)
    assert q.get_batch(timeout=0) == ["t1", "t2", "e1", "e2"]
    # events do not count as puts of ticks
    assert q.put_count == 2


def test_get_batch_max_items_and_order() -> None:
    q = TickQueue()
    for i in range(10):
        q.put(i)
    assert q.get_batch(max_items=4, timeout=0) == [0, 1, 2, 3]
    assert q.get_batch(max_items=4, timeout=0) == [4, 5, 6, 7]
    assert q.get_batch(max_items=4, timeout=0) == [8, 9]
    assert q.get_batch(max_items=4, timeout=0) == []


def test_get_batch_times_out_empty() -> None:
    q = TickQueue()
    assert q.get_batch(timeout=0.01) == []
    assert q.get_batch(timeout=0) == []
    assert not q.closed


def test_a_put_wakes_a_waiting_consumer() -> None:
    q = TickQueue()
    thread, out = run_consumer(q, timeout=None)  # would wait forever if never woken
    wait_until_waiting(q)
    q.put("tick")
    thread.join(JOIN_S)
    assert not thread.is_alive()
    assert out == [["tick"]]


def test_an_event_wakes_a_waiting_consumer() -> None:
    q = TickQueue(1)
    q.put("t")
    q.get_batch(timeout=0)
    thread, out = run_consumer(q, timeout=None)
    wait_until_waiting(q)
    q.put_event("event")
    thread.join(JOIN_S)
    assert not thread.is_alive()
    assert out == [["event"]]


def test_close_wakes_a_waiting_consumer() -> None:
    q = TickQueue()
    thread, out = run_consumer(q, timeout=None)
    wait_until_waiting(q)
    q.close()
    thread.join(JOIN_S)
    assert not thread.is_alive()
    assert out == [[]]
    assert q.closed


def test_closed_queue_drains_then_returns_at_once() -> None:
    q = TickQueue()
    for i in range(5):
        q.put(i)
    q.close()
    assert q.get_batch(max_items=3, timeout=None) == [0, 1, 2]
    assert q.get_batch(timeout=None) == [3, 4]
    thread, out = run_consumer(q, timeout=None)  # closed and empty: no wait at all
    thread.join(JOIN_S)
    assert not thread.is_alive()
    assert out == [[]]


def consume_all(q: TickQueue, out: list[Any], batches: list[int]) -> None:
    """Drain until the queue is closed and empty (the recorder's loop)."""
    while True:
        batch = q.get_batch(max_items=1000, timeout=0.05)
        if batch:
            out.extend(batch)
            batches.append(len(batch))
        elif q.closed and not len(q):
            return


def test_stress_one_producer_one_consumer_no_loss_in_order() -> None:
    n = 200_000
    q = TickQueue(n)
    out: list[Any] = []
    batches: list[int] = []
    consumer = threading.Thread(target=consume_all, args=(q, out, batches), name="consumer")
    consumer.start()

    def produce() -> None:
        for i in range(n):
            q.put(i)
        q.close()

    producer = threading.Thread(target=produce, name="producer")
    producer.start()
    producer.join(JOIN_S * 3)
    consumer.join(JOIN_S * 3)
    assert not producer.is_alive() and not consumer.is_alive()
    assert q.dropped == 0 and q.put_count == n
    assert out == list(range(n))
    assert max(batches) <= 1000


def test_stress_small_bound_counts_every_drop() -> None:
    """A tiny queue under a fast producer: what is not dropped arrives in order,
    and ``dropped`` equals the puts that returned False."""
    n = 100_000
    q = TickQueue(64)
    out: list[Any] = []
    consumer = threading.Thread(target=consume_all, args=(q, out, []), name="consumer")
    consumer.start()
    refused: list[int] = []

    def produce() -> None:
        for i in range(n):
            if not q.put(i):
                refused.append(i)
        q.close()

    producer = threading.Thread(target=produce, name="producer")
    producer.start()
    producer.join(JOIN_S * 3)
    consumer.join(JOIN_S * 3)
    assert not producer.is_alive() and not consumer.is_alive()
    assert q.dropped == len(refused)
    assert q.put_count == len(out) == n - len(refused)
    assert out == sorted(set(range(n)) - set(refused))
    assert q.high_water <= 64


def test_stress_two_producers_with_events() -> None:
    """Each producer's items keep their order; events all arrive."""
    n = 50_000
    q = TickQueue(4 * n)
    out: list[Any] = []
    consumer = threading.Thread(target=consume_all, args=(q, out, []), name="consumer")
    consumer.start()

    def produce(tag: str) -> None:
        for i in range(n):
            q.put((tag, i))
            if i % 10_000 == 0:
                q.put_event((tag + "-event", i))

    producers = [threading.Thread(target=produce, args=(t,), name=t) for t in ("a", "b")]
    for p in producers:
        p.start()
    for p in producers:
        p.join(JOIN_S * 3)
    q.close()
    consumer.join(JOIN_S * 3)
    assert not consumer.is_alive()
    assert q.dropped == 0
    for tag in ("a", "b"):
        assert [i for t, i in out if t == tag] == list(range(n))
        assert [i for t, i in out if t == tag + "-event"] == list(range(0, n, 10_000))


def test_stress_two_producers_small_bound_lose_no_count() -> None:
    """Every put is either delivered or counted as dropped, even with two
    producers racing on a full queue."""
    n = 50_000
    q = TickQueue(32)
    out: list[Any] = []
    consumer = threading.Thread(target=consume_all, args=(q, out, []), name="consumer")
    consumer.start()
    accepted = {"a": 0, "b": 0}

    def produce(tag: str) -> None:
        ok = 0
        for i in range(n):
            ok += q.put((tag, i))
        accepted[tag] = ok

    producers = [threading.Thread(target=produce, args=(t,), name=t) for t in accepted]
    for p in producers:
        p.start()
    for p in producers:
        p.join(JOIN_S * 3)
    q.close()
    consumer.join(JOIN_S * 3)
    assert not consumer.is_alive()
    assert len(out) == sum(accepted.values()) == q.put_count
    assert q.put_count + q.dropped == 2 * n
    for tag in accepted:
        mine = [i for t, i in out if t == tag]
        assert mine == sorted(mine)
