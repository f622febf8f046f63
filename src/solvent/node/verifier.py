"""
Signature checks of submissions on several cores, before the sequencer queues them.

Introduction
------------
Recovering an EIP-712 signer costs ~60 µs (``node.eip712``), and decoding a
submission's JSON ~18 µs more: one core checks about 11,000 submissions a
second, and the sequencer's own work (``engine.apply``, the
state root, the log) needs a core too. ``Verifier`` spreads the checks of a
batch of submission JSON objects over a pool of workers and returns, for
each object in order, what ``node.chain`` would decide one at a time:

* ``(submission, signer)`` when ``decode_submission`` and
  ``check_submission`` accept it in the verifier's domain (``signer`` is the
  recovered address, equal to the stated one);
* the ``ProtocolError`` either raised (``Malformed``, ``BadSignature``,
  ``WrongDomain``, ...) otherwise.

The checked pairs go to ``Node.submit_checked``, which queues them without
checking again; blocks are then made as usual. Nothing else is decided
here: nonces, deadlines and the signer's authority are the core's, in the
block.

``submit_logged`` serves ``solvent verify`` (``node.verify``): one task takes
the bodies of logged blocks and answers, for each, only whether every
submission in it decodes and recovers to its logged signer
(``confirm_logged``), so that little crosses back from the worker. A yes
lets the replay trust the logged signers; for a no the replay checks that
block itself, and reports what a serial check reports.

Workers
-------
``kind="process"`` (the default) runs the checks in ``workers`` processes
(``ProcessPoolExecutor``, spawned, so that the caller's threads and open
files never reach them); ``kind="thread"`` in threads of this process;
``kind="inline"`` in the calling thread (what ``Node.submit`` does).
coincurve's cffi call releases the GIL during libsecp256k1's recovery (two
threads recover bare digests 1.76x as fast as one), but decoding and
hashing hold it, and so does everything the sequencer thread does: on the
2-core machine, end to end with the node, threads gave no gain over
inline (5,200-7,500 against 5,700-7,300 orders/s) and processes 1.5-2.1x
(8,500-13,100/s; ``bench/node.py``, ``docs/performance.md``).

A batch is split into at most ``workers`` chunks of at least ``min_chunk``
objects, one task each. A process worker sends its results back pickled
with a table that reduces a submission and its transaction to their field
values (``cls(*fields)`` rebuilds them): the default pickling of frozen
slotted dataclasses costs ~10 µs per submission in the receiving process,
the one that sequences; this way ~5 µs.
"""

import copyreg
import io
import json
import multiprocessing
import pickle
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import fields
from functools import partial
from types import TracebackType
from typing import Any, Literal

from solvent.core.errors import ProtocolError
from solvent.core.tx import TX_TYPES
from solvent.node.chain import Submission, check_submission, decode_submission
from solvent.node.eip712 import Domain

Checked = tuple[Submission, str] | ProtocolError
Kind = Literal["process", "thread", "inline"]


def check_batch(domain: Domain, objs: Sequence[object]) -> list[Checked]:
    """Decode and check each submission JSON object; (submission, signer) or the refusal."""
    out: list[Checked] = []
    for obj in objs:
        try:
            submission = decode_submission(obj)
            out.append((submission, check_submission(domain, submission)))
        except ProtocolError as error:
            out.append(error)
    return out


def confirm_logged(domain: Domain, bodies: Sequence[bytes]) -> list[bool]:
    """For each logged block body: True if every submission in it decodes and recovers, in
    ``domain``, to its logged signer (what ``apply_block`` checks with ``check_signatures``)."""
    return [_all_recover(domain, body) for body in bodies]


def _all_recover(domain: Domain, body: bytes) -> bool:
    try:
        for obj in json.loads(body).get("txs", ()):
            check_submission(domain, decode_submission(obj))
    except Exception:  # whatever it is, the caller's serial replay names it
        return False
    return True


# --- process workers -----------------------------------------------------------------------


def _by_fields(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    names = tuple(f.name for f in fields(cls))

    def reduce(obj: Any) -> tuple[Any, ...]:
        return cls, tuple([getattr(obj, name) for name in names])

    return reduce


_DISPATCH: dict[type, Callable[[Any], tuple[Any, ...]]] = {
    **copyreg.dispatch_table,  # type: ignore[dict-item]
    Submission: _by_fields(Submission),
    **{cls: _by_fields(cls) for cls in TX_TYPES.values()},
}
_worker_domain: Domain | None = None


def _init_worker(domain: Domain) -> None:
    global _worker_domain  # noqa: PLW0603  (one domain per worker process, set once)
    _worker_domain = domain
    # Ctrl-C in a terminal reaches the whole process group: the owner stops and closes the
    # pool; a worker interrupted on its own would only break the pool and print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _check_in_worker(objs: Sequence[object]) -> bytes:
    if _worker_domain is None:
        raise RuntimeError("Invariant: a verifier worker without a domain")
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(check_batch(_worker_domain, objs))
    return buffer.getvalue()


def _confirm_in_worker(bodies: Sequence[bytes]) -> list[bool]:
    if _worker_domain is None:
        raise RuntimeError("Invariant: a verifier worker without a domain")
    return confirm_logged(_worker_domain, bodies)


def _loads(data: bytes) -> list[Checked]:
    result: list[Checked] = pickle.loads(data)  # our own workers' output
    return result


# --- the pool ------------------------------------------------------------------------------


class Verifier:
    """A pool that checks batches of submission JSON objects for one domain."""

    def __init__(self, domain: Domain, workers: int = 2, kind: Kind = "process", min_chunk: int = 8) -> None:
        if workers < 1 or min_chunk < 1:
            raise ValueError("workers and min_chunk must be at least 1")
        self.domain = domain
        self.kind: Kind = kind
        self.workers = workers
        self.min_chunk = min_chunk
        self._pool: Executor | None = None
        if kind == "process":
            self._pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(domain,),
            )
        elif kind == "thread":
            self._pool = ThreadPoolExecutor(workers, thread_name_prefix="solvent-verifier")
        elif kind != "inline":
            raise ValueError(f"kind must be process, thread or inline, not {kind!r}")

    def warm(self) -> None:
        """Start every worker process and let it import the node (before anything is timed)."""
        if self._pool is None:
            return
        chunk = [{"tx": None}] * self.min_chunk  # refused as Malformed, after the imports
        for future in [self.submit(chunk * self.workers) for _ in range(2 * self.workers)]:
            future.result()

    def worker_pids(self) -> list[int]:
        """The process ids of the worker processes (none for threads), e.g. to read their CPU time."""
        if isinstance(self._pool, ProcessPoolExecutor):
            return sorted(self._pool._processes or {})
        return []

    def _chunks(self, objs: Sequence[object]) -> list[Sequence[object]]:
        count = max(1, min(self.workers, len(objs) // self.min_chunk))
        size = -(-len(objs) // count)
        return [objs[i : i + size] for i in range(0, len(objs), size)] or [objs]

    def submit(self, objs: Sequence[object]) -> "Future[list[Checked]]":
        """Check a batch in the background; the future's result has one entry per object, in order."""
        done: Future[list[Checked]] = Future()
        pool = self._pool
        if pool is None:
            done.set_result(check_batch(self.domain, objs))
            return done
        chunks = self._chunks(objs)
        parts: list[list[Checked] | None] = [None] * len(chunks)
        remaining = [len(chunks)]
        lock = threading.Lock()
        convert = self.kind == "process"

        def finish(index: int, future: "Future[Any]") -> None:
            if future.cancelled():  # the pool was closed with the chunk still queued
                with lock:
                    done.cancel()
                return
            error = future.exception()
            part = None if error is not None else _loads(future.result()) if convert else future.result()
            with lock:
                if done.done():  # another chunk failed
                    return
                if error is not None:
                    done.set_exception(error)
                    return
                parts[index] = part
                remaining[0] -= 1
                if remaining[0]:
                    return
            done.set_result([entry for p in parts if p is not None for entry in p])

        for index, chunk in enumerate(chunks):
            if convert:
                future: Future[Any] = pool.submit(_check_in_worker, list(chunk))
            else:
                future = pool.submit(check_batch, self.domain, chunk)
            future.add_done_callback(partial(finish, index))
        return done

    def submit_logged(self, bodies: Sequence[bytes]) -> "Future[list[bool]]":
        """Confirm logged block bodies in the background, as one task (``confirm_logged``)."""
        pool = self._pool
        if pool is None:
            done: Future[list[bool]] = Future()
            done.set_result(confirm_logged(self.domain, bodies))
            return done
        if self.kind == "process":
            return pool.submit(_confirm_in_worker, list(bodies))
        return pool.submit(confirm_logged, self.domain, bodies)

    def check(self, objs: Sequence[object]) -> list[Checked]:
        """Check a batch and wait for the results."""
        return self.submit(objs).result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "Verifier":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
