"""Blocks of a stage's work run by several processes, results in block order.

``neorank rank`` and ``neorank peptides`` work block by block (bounded memory); with
``--workers N`` the blocks are handed to N worker processes and the results come back
in block order, so every output is byte-identical to one process's (tested per stage).
Workers are started with ``spawn``, not ``fork``: the parent holds Arrow's thread
pools, which are unsafe across ``fork``. What every block needs (``shared``) is sent
once to each worker; at most ``workers + 1`` blocks are in flight, so memory is about
a block per worker.
"""

from __future__ import annotations

import collections
import itertools
import logging
import multiprocessing
import pickle
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from neorank.errors import NeoRankError

LOG = logging.getLogger(__name__)

_SHARED: Any = None  # set in each worker process by _set_shared


def _set_shared(shared: Any) -> None:
    global _SHARED
    _SHARED = shared


def _call(function: Callable[[Any, Any], Any], item: Any) -> Any:
    return function(_SHARED, item)


def ordered_map(function: Callable[[Any, Any], Any], items: Iterable[Any], shared: Any,
                workers: int, *, what: str, fix: str) -> Iterator[Any]:
    """``function(shared, item)`` for every item, yielded in item order.

    ``function`` must be a module-level function (workers import it). One process
    does it all when ``workers <= 1``, when there is a single item (no process start-up
    for small inputs) or when ``shared`` cannot be sent to another process. A worker
    that dies (out of memory) is a :class:`NeoRankError` naming ``what`` the workers
    did and the ``fix``; an error raised by ``function`` reaches the caller as raised.
    """
    items = iter(items)
    head = list(itertools.islice(items, 2))
    if workers <= 1 or len(head) < 2:
        for item in itertools.chain(head, items):
            yield function(shared, item)
        return
    try:
        pickle.dumps(shared)
    except Exception as err:  # noqa: BLE001 - evidence objects that cannot cross processes
        LOG.info("%s in one process (%s)", what, err)
        for item in itertools.chain(head, items):
            yield function(shared, item)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_set_shared,
                             initargs=(shared,)) as pool:
        pending: collections.deque = collections.deque()
        try:
            for item in itertools.chain(head, items):
                pending.append(pool.submit(_call, function, item))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BrokenProcessPool as err:
            raise NeoRankError(
                f"a process {what} stopped abruptly ({err})",
                causes=["the job ran out of memory and the system killed the process"],
                fix=fix) from err
