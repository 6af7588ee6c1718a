"""A generator run in a background thread, a few items ahead of its consumer."""

from __future__ import annotations

from typing import Iterator


def in_background(items: Iterator, depth: int = 2) -> Iterator:
    """Run ``items`` in a thread, at most ``depth`` results ahead of the consumer.

    DuckDB and the compiled fill release the GIL, so fetching and building the next
    points overlaps with the rules evaluating the current ones. An exception on either
    side stops both; the producer's generator is closed in its own thread (it may hold a
    DuckDB reader open) before this returns or raises.
    """
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(x) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        it = iter(items)
        try:
            while True:
                # produce only when the queue has room: at most ``depth`` finished items wait
                # (plus the consumer's current one), which bounds memory
                while q.full() and not stop.is_set():
                    stop.wait(0.005)
                if stop.is_set():
                    break
                try:
                    x = next(it)
                except StopIteration:
                    put((None, done))
                    break
                if not put((None, x)):
                    break
        except BaseException as e:  # noqa: BLE001 — handed to the consumer, re-raised there
            put((e, None))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    th = threading.Thread(target=run, name="maswatch-points", daemon=True)
    th.start()
    try:
        while True:
            err, x = q.get()
            if err is not None:
                raise err
            if x is done:
                return
            yield x
    finally:
        stop.set()
        th.join()
