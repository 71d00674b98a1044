"""The progress convention: monotone counts ending at the total, a raising callback dropped."""

from __future__ import annotations

import io
import logging

import pytest

from async_qexp.progress import ProgressReporter, check_progress, tqdm_progress


def test_counts_are_monotone_and_end_at_the_total() -> None:
    calls: list[tuple[int, int | None]] = []
    reporter = ProgressReporter(lambda done, total: calls.append((done, total)))
    reporter.start()
    reporter.add_total(2)
    reporter.advance()
    reporter.add_total(1)  # more work found while running
    reporter.advance(2)
    assert calls == [(0, None), (0, 2), (1, 2), (1, 3), (3, 3)]


def test_done_never_passes_a_known_total() -> None:
    calls: list[tuple[int, int | None]] = []
    reporter = ProgressReporter(lambda done, total: calls.append((done, total)), total=1)
    reporter.advance(5)
    assert calls == [(1, 1)]


def test_a_raising_callback_is_logged_once_and_dropped(caplog: pytest.LogCaptureFixture) -> None:
    def broken(done: int, total: int | None) -> None:
        raise RuntimeError("bar broke")

    reporter = ProgressReporter(broken, total=3)
    with caplog.at_level(logging.WARNING, logger="async_qexp"):
        for _ in range(3):
            reporter.advance()
    assert caplog.text.count("progress callback raised") == 1
    assert reporter.done == 3


def test_progress_must_be_callable() -> None:
    assert check_progress(None) is None
    with pytest.raises(TypeError, match="callable"):
        check_progress(3)


def test_tqdm_adapter_draws_and_closes_a_bar() -> None:
    pytest.importorskip("tqdm")
    out = io.StringIO()
    bar = tqdm_progress(desc="saving", file=out)
    for done in range(4):
        bar(done, 3)
    assert "saving" in out.getvalue()
    assert "3/3" in out.getvalue()
    bar(5, 6)  # closed: nothing happens
