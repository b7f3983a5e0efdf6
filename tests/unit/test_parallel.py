"""neorank.parallel.ordered_map: results in item order whatever the worker count, the
shared state sent once, input errors passed through and a dead worker named."""

from __future__ import annotations

import os

import pytest

from neorank.errors import InputFileError, NeoRankError
from neorank.parallel import ordered_map


def _scaled(shared: dict, item: int) -> tuple[int, int, int]:
    if item == shared["bad"]:
        raise InputFileError(f"item {item} is bad", where="items.tsv", fix="drop it")
    if item == shared["die"]:
        os._exit(3)  # a worker killed from outside (the out-of-memory killer)
    return item, item * shared["factor"], os.getpid()


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_results_come_back_in_item_order(workers):
    shared = {"factor": 7, "bad": None, "die": None}
    results = list(ordered_map(_scaled, range(23), shared, workers, what="scaling",
                               fix="-"))
    assert [(i, v) for i, v, _ in results] == [(i, 7 * i) for i in range(23)]
    pids = {pid for _, _, pid in results}
    assert (pids == {os.getpid()}) == (workers == 1)  # more than one worker: other processes


def test_one_item_stays_in_this_process():
    shared = {"factor": 2, "bad": None, "die": None}
    assert [p for _, _, p in ordered_map(_scaled, [5], shared, 4, what="-", fix="-")] \
        == [os.getpid()]


def test_an_input_error_in_a_worker_reaches_the_caller():
    shared = {"factor": 1, "bad": 4, "die": None}
    with pytest.raises(InputFileError, match="item 4 is bad") as raised:
        list(ordered_map(_scaled, range(10), shared, 2, what="scaling", fix="-"))
    assert raised.value.where == "items.tsv" and raised.value.fix == "drop it"


def test_a_dead_worker_is_an_error_naming_the_work_and_the_fix():
    shared = {"factor": 1, "bad": None, "die": 3}
    with pytest.raises(NeoRankError, match="a process scaling stopped abruptly") as raised:
        list(ordered_map(_scaled, range(10), shared, 2, what="scaling",
                         fix="give the job more memory"))
    assert raised.value.fix == "give the job more memory"
    assert "out of memory" in str(raised.value)
