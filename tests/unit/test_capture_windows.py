"""Unit tests of the capture offsets and windows of `connectors.genesys.windows` (pure code)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from connectors.genesys.windows import (
    CaptureOffset,
    CaptureWindow,
    checkpointed_offset,
    dimensions_due,
    format_instant,
    local_checkpoint,
    next_offset_until,
)


def at(hour: int, minute: int, second: int = 0, microsecond: int = 0) -> datetime:
    """An instant on 2026-12-04 (UTC)."""
    return datetime(2026, 12, 4, hour, minute, second, microsecond, tzinfo=UTC)


HOUR = timedelta(hours=1)


# -- format_instant and CaptureOffset -----------------------------------------------------------


def test_format_instant_utc_milliseconds_fixed_width() -> None:
    assert format_instant(at(10, 2, 0, 7_999)) == "2026-12-04T10:02:00.007Z"


def test_format_instant_other_zone_converted_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    instant = datetime(2026, 12, 4, 11, 2, 0, tzinfo=paris)

    assert format_instant(instant) == "2026-12-04T10:02:00.000Z"


def test_capture_offset_to_json_until_formatted() -> None:
    assert CaptureOffset(at(10, 2)).to_json() == {"until": "2026-12-04T10:02:00.000Z"}


def test_capture_offset_from_json_round_trip_equal() -> None:
    offset = CaptureOffset(at(10, 2, 30, 250_000))

    assert CaptureOffset.from_json(offset.to_json()) == offset


# -- CaptureWindow ------------------------------------------------------------------------------


def test_capture_window_query_start_overlap_60s_one_minute_earlier() -> None:
    window = CaptureWindow(at(10, 0), at(10, 2), timedelta(seconds=60))

    assert window.query_start == at(9, 59)


def test_capture_window_batch_key_window_end_formatted() -> None:
    window = CaptureWindow(at(10, 0), at(10, 2), timedelta(seconds=60))

    assert window.batch_key == "2026-12-04T10:02:00.000Z"


def test_capture_window_split_40_minutes_by_15_three_pieces_without_gap() -> None:
    window = CaptureWindow(at(10, 0), at(10, 40), timedelta(0))

    assert window.split(timedelta(minutes=15)) == [
        (at(10, 0), at(10, 15)),
        (at(10, 15), at(10, 30)),
        (at(10, 30), at(10, 40)),
    ]


def test_capture_window_split_with_overlap_starts_at_query_start() -> None:
    window = CaptureWindow(at(10, 1), at(10, 40), timedelta(seconds=60))

    assert window.split(timedelta(minutes=15)) == [
        (at(10, 0), at(10, 15)),
        (at(10, 15), at(10, 30)),
        (at(10, 30), at(10, 40)),
    ]


def test_capture_window_split_shorter_than_span_one_piece() -> None:
    window = CaptureWindow(at(10, 0), at(10, 2), timedelta(seconds=60))

    assert window.split(timedelta(minutes=15)) == [(at(9, 59), at(10, 2))]


def test_capture_window_split_exact_multiple_no_empty_piece() -> None:
    window = CaptureWindow(at(10, 0), at(10, 30), timedelta(0))

    assert window.split(timedelta(minutes=15)) == [
        (at(10, 0), at(10, 15)),
        (at(10, 15), at(10, 30)),
    ]


# -- next_offset_until --------------------------------------------------------------------------


def test_next_offset_until_no_known_offset_now_truncated_to_milliseconds() -> None:
    assert next_offset_until(None, at(10, 2, 5, 123_987), None, HOUR) == at(10, 2, 5, 123_000)


def test_next_offset_until_within_limits_server_now() -> None:
    assert next_offset_until(at(10, 0), at(10, 2), at(12, 0), HOUR) == at(10, 2)


def test_next_offset_until_bounded_end_capped_at_end() -> None:
    assert next_offset_until(at(10, 0), at(10, 30), at(10, 20), HOUR) == at(10, 20)


def test_next_offset_until_no_known_offset_capped_at_end() -> None:
    assert next_offset_until(None, at(10, 30), at(10, 20), HOUR) == at(10, 20)


def test_next_offset_until_far_behind_capped_at_known_plus_max_batch() -> None:
    assert next_offset_until(at(6, 0), at(10, 2), None, HOUR) == at(7, 0)


def test_next_offset_until_server_clock_behind_known_returns_known() -> None:
    assert next_offset_until(at(10, 2), at(10, 1, 30), None, HOUR) == at(10, 2)


# -- dimensions_due -----------------------------------------------------------------------------

REFRESH = timedelta(minutes=30)


def test_dimensions_due_first_batch_true() -> None:
    assert dimensions_due(at(10, 2), at(10, 4), REFRESH, first=True) is True


def test_dimensions_due_window_inside_one_period_false() -> None:
    assert dimensions_due(at(10, 2), at(10, 4), REFRESH, first=False) is False


def test_dimensions_due_window_crossing_multiple_true() -> None:
    assert dimensions_due(at(10, 29), at(10, 31), REFRESH, first=False) is True


def test_dimensions_due_window_ending_on_multiple_true() -> None:
    assert dimensions_due(at(10, 28), at(10, 30), REFRESH, first=False) is True


def test_dimensions_due_window_starting_on_multiple_false() -> None:
    assert dimensions_due(at(10, 30), at(10, 32), REFRESH, first=False) is False


# -- reading the checkpoint's offset log ---------------------------------------------------------

OFFSET_METADATA = '{"batchWatermarkMs":0,"batchTimestampMs":1796409040008,"conf":{}}'


def write_offset_file(checkpoint: Path, batch: int, text: str) -> None:
    folder = checkpoint / "offsets"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(batch)).write_text(text, encoding="utf-8")


def test_checkpointed_offset_newest_batch_file_wins(tmp_path: Path) -> None:
    for batch, until in ((0, "2026-12-04T08:05:00.000Z"), (1, "2026-12-04T08:10:00.000Z")):
        write_offset_file(tmp_path, batch, f'v1\n{OFFSET_METADATA}\n{{"until": "{until}"}}')
    (tmp_path / "offsets" / ".1.crc").write_text("x", encoding="utf-8")

    assert checkpointed_offset(tmp_path) == CaptureOffset(at(8, 10))


def test_checkpointed_offset_file_cut_short_falls_back_to_previous(tmp_path: Path) -> None:
    offset = '{"until": "2026-12-04T08:05:00.000Z"}'
    write_offset_file(tmp_path, 4, f"v1\n{OFFSET_METADATA}\n{offset}")
    write_offset_file(tmp_path, 5, 'v1\n{"batchWat')

    assert checkpointed_offset(tmp_path) == CaptureOffset(at(8, 5))


def test_checkpointed_offset_no_offset_log_none(tmp_path: Path) -> None:
    assert checkpointed_offset(tmp_path) is None
    (tmp_path / "offsets").mkdir()
    assert checkpointed_offset(tmp_path) is None


def test_local_checkpoint_paths_and_file_uris_local_remote_none() -> None:
    assert local_checkpoint("/var/lib/etl/capture") == Path("/var/lib/etl/capture")
    assert local_checkpoint("file:///var/lib/etl/capture") == Path("/var/lib/etl/capture")
    assert local_checkpoint("file:/var/lib/etl/capture") == Path("/var/lib/etl/capture")
    assert local_checkpoint("s3a://bucket/etl/capture") is None
    assert local_checkpoint("") is None
