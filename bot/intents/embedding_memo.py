"""The last few messages' embeddings, shared by the encoders of one process.

The injection detector and the intent classifier both embed the message a turn is
answering, with the same encoder graph. Keyed by the graph and the token ids (not the
text: the detector embeds its normalised form, which tokenises the same for ordinary
messages), the second one to ask gets the first one's vector; if the first is still
computing it, the second waits for that instead of running the encoder again.

Within one turn the detector asks first and the classifier finds its vector done (the
injection screen stage runs before the classify stage). A computation under way is waited
for rather than repeated: a worker answering several conversations at once can be asked for the
same text ("hi") by two turns in two threads.

Written by hand (~50 lines): `functools.lru_cache` and `cachetools` memoise, but neither
lets a second thread wait for a computation already under way.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

#: Entries kept: a worker answers a handful of turns at once; older ones are never asked.
#: A message takes up to three (its vector, its layer-5 states, a tuned classifier's vector).
DEFAULT_SIZE = 128


class EmbeddingMemo:
    """Thread-safe memo of single-message embeddings; see the module docstring."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError("size must be >= 1")
        self._size = size
        self._lock = threading.Lock()
        self._done: OrderedDict[Hashable, FloatArray] = OrderedDict()
        self._running: dict[Hashable, Future[FloatArray]] = {}
        self.hits = 0
        self.misses = 0

    def put(self, key: Hashable, vector: FloatArray) -> None:
        """Remember `vector` for `key` unless it is already known (a by-product of a
        computation made for another key)."""
        frozen = np.array(vector, dtype=np.float32)
        frozen.setflags(write=False)
        with self._lock:
            if key not in self._done:
                self._store(key, frozen)

    def _store(self, key: Hashable, vector: FloatArray) -> None:
        self._done[key] = vector
        while len(self._done) > self._size:
            self._done.popitem(last=False)

    def get(self, key: Hashable, compute: Callable[[], FloatArray]) -> FloatArray:
        """The vector for `key`: remembered, being computed by another thread (waited
        for), or computed here with `compute`. The returned array is read-only."""
        with self._lock:
            found = self._done.get(key)
            if found is not None:
                self._done.move_to_end(key)
                self.hits += 1
                return found
            running = self._running.get(key)
            if running is None:
                mine: Future[FloatArray] = Future()
                self._running[key] = mine
                self.misses += 1
            else:
                self.hits += 1
        if running is not None:
            return running.result()
        try:
            vector = np.array(compute(), dtype=np.float32)
            vector.setflags(write=False)
        except BaseException as exc:
            with self._lock:
                del self._running[key]
            mine.set_exception(exc)
            raise
        with self._lock:
            del self._running[key]
            self._store(key, vector)
        mine.set_result(vector)
        return vector
