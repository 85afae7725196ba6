import threading

import pytest

from desktop_app.core.jobs import CancelToken, Cancelled, Progress, RateLimitedReport


def test_check_raises_after_cancel_from_another_thread():
    token = CancelToken()
    token.check()
    threading.Thread(target=token.cancel).start()
    with pytest.raises(Cancelled):
        for _ in range(10_000_000):
            token.check()


def test_pause_blocks_until_resume_and_cancel_wakes_a_paused_job():
    token = CancelToken()
    token.pause()
    reached = threading.Event()

    def job():
        try:
            token.check()
            reached.set()
        except Cancelled:
            pass

    worker = threading.Thread(target=job)
    worker.start()
    assert not reached.wait(0.2), "a paused job must not go on"
    token.resume()
    assert reached.wait(2)
    worker.join()

    token2 = CancelToken()
    token2.pause()
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(pytest.raises(Cancelled, token2.check)))
    worker.start()
    token2.cancel()
    worker.join(2)
    assert not worker.is_alive()


def test_rate_limited_report_keeps_first_last_and_stage_changes():
    now = [0.0]
    seen = []
    report = RateLimitedReport(seen.append, per_second=10, clock=lambda: now[0])
    for i in range(1, 101):
        now[0] += 0.001
        report(Progress("embedding", i, 100))
    report(Progress("saving", 0, 1))
    assert seen[0].done == 1
    assert seen[-2].done == 100, "the final report of a stage must pass"
    assert seen[-1].stage == "saving"
    assert len(seen) <= 5


def test_progress_fraction():
    assert Progress("x", 5, 10).fraction == 0.5
    assert Progress("x", 5, None).fraction is None
