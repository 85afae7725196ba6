"""A search's query is embedded between the batches of a long job's encode
(never after the whole of it), and a paused job does not hold the embedder."""

from __future__ import annotations

import threading

from desktop_app.core.jobs import CancelToken


def test_a_query_goes_between_the_batches_of_a_long_encode(embedder):
    texts = [f"passage number {i} about volcanoes, bread and the rings of Saturn" for i in range(32 * 12)]
    batches = []
    query_done_at = []
    started = threading.Event()

    def check():
        batches.append(1)
        started.set()

    bulk = threading.Thread(target=lambda: embedder.encode(texts, check=check))
    bulk.start()
    assert started.wait(120)
    embedder.encode(["where is Mount Erebus"])
    query_done_at.append(len(batches))
    bulk.join(600)
    assert query_done_at[0] < len(batches) == 12     # answered while the long encode still had batches to go


def test_a_paused_job_lets_queries_through(embedder):
    token = CancelToken()
    paused = threading.Event()

    def check():
        if not paused.is_set():
            token.pause()
            paused.set()
        token.check()          # blocks here until resumed, as a paused ingest does

    bulk = threading.Thread(target=lambda: embedder.encode(["a"] * 64, check=check))
    bulk.start()
    assert paused.wait(120)
    try:
        [vector] = embedder.encode(["where is Mount Erebus"])   # would wait forever if the job held the lock
        assert abs(float(vector @ vector) - 1.0) < 1e-4
        assert bulk.is_alive() and token.paused
    finally:
        token.resume()
        bulk.join(120)
