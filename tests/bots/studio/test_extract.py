"""Extraction of day, time, class type and list references from messages."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from bot.intents.yesno import is_affirmative, is_negative
from studio.extract import (
    Referent,
    TimeHint,
    extract_class_type,
    extract_day,
    extract_schedule_query,
    extract_time,
    referent_from_slot,
    resolve_reference,
)
from studio.models import ClassSlot, studio_zone

WEDNESDAY = date(2026, 11, 18)


@pytest.mark.parametrize(("text", "expected"), [
    ("what's on today?", date(2026, 11, 18)),
    ("anything tonight", date(2026, 11, 18)),
    ("classes tomorrow", date(2026, 11, 19)),
    ("tmrw morning spin", date(2026, 11, 19)),
    ("the day after tomorrow", date(2026, 11, 20)),
    ("when is yoga on Saturday?", date(2026, 11, 21)),
    ("yoga saturdays", date(2026, 11, 21)),
    ("on sat", date(2026, 11, 21)),
    ("anything on Wednesday", date(2026, 11, 18)),
    ("next wednesday", date(2026, 11, 25)),
    ("monday", date(2026, 11, 23)),
    ("thurs evening", date(2026, 11, 19)),
    ("saturdy yoga", date(2026, 11, 21)),
    ("this weekend", date(2026, 11, 21)),
    ("on 12/3", date(2026, 12, 3)),
    ("11/20/2026", date(2026, 11, 20)),
    ("March 12", date(2027, 3, 12)),
    ("dec 1st", date(2026, 12, 1)),
    ("the 5th of December", date(2026, 12, 5)),
    ("is there yoga", None),
    ("I sat on the bike", None),
    ("book the 9am one", None),
    ("2/30", None),
])
def test_extract_day(text: str, expected: date | None) -> None:
    assert extract_day(text, WEDNESDAY) == expected


def test_day_first_dates() -> None:
    assert extract_day("12/3", WEDNESDAY, day_first=True) == date(2027, 3, 12)


@pytest.mark.parametrize(("text", "expected"), [
    ("9am", TimeHint(at=[time(9)])),
    ("at 9 am please", TimeHint(at=[time(9)])),
    ("6:30pm", TimeHint(at=[time(18, 30)])),
    ("7.15 a.m.", TimeHint(at=[time(7, 15)])),
    ("12pm", TimeHint(at=[time(12)])),
    ("12am", TimeHint(at=[time(0)])),
    ("18:00", TimeHint(at=[time(18)])),
    ("the 9:30 class", TimeHint(at=[time(9, 30), time(21, 30)])),
    ("at 6", TimeHint(at=[time(6), time(18)])),
    ("noon", TimeHint(at=[time(12)])),
    ("at 7 o'clock", TimeHint(at=[time(7), time(19)])),
    ("9 oclock", TimeHint(at=[time(9), time(21)])),
    ("after 6pm", TimeHint(start=time(18))),
    ("after 6", TimeHint(start=time(18))),
    ("before 9am", TimeHint(end=time(9))),
    ("morning classes", TimeHint(start=time(5), end=time(11, 59))),
    ("evening", TimeHint(start=time(17), end=time(22))),
    ("anything at lunchtime", TimeHint(start=time(11, 30), end=time(13, 59))),
    ("on 12/3", None),
    ("March 12", None),
    ("yoga", None),
    ("13pm", None),
])
def test_extract_time(text: str, expected: TimeHint | None) -> None:
    assert extract_time(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("when is yoga on Saturday?", "yoga"),
    ("any vinyasa tomorrow", "yoga"),
    ("spinning class", "spin"),
    ("indoor cycling", "spin"),
    ("HIIT tonight", "hiit"),
    ("pilattes", "pilates"),
    ("yogga", "yoga"),
    ("boxng", "boxing"),
    ("kickboxing", "boxing"),
    ("do you have barre", "barre"),
    ("what's on today", None),
    ("I want to hit the gym", None),
])
def test_extract_class_type(text: str, expected: str | None) -> None:
    assert extract_class_type(text) == expected


def test_schedule_query_combines_everything() -> None:
    query = extract_schedule_query("any spinning tomorrow after 6pm?", WEDNESDAY)
    assert (query.day, query.class_type, query.start_time, query.at) == (
        date(2026, 11, 19), "spin", time(18), [])


def _slot(id_: int, hour: int, minute: int, class_type: str, title: str, who: str) -> ClassSlot:
    starts = datetime(2026, 11, 21, hour, minute, tzinfo=studio_zone())
    return ClassSlot(id=id_, class_type=class_type, title=title, instructor=who,
                     starts_at=starts, duration_minutes=60, room="A", capacity=10, seats_left=5)


LISTED = [referent_from_slot(s) for s in (
    _slot(1, 8, 0, "spin", "Saturday Climb", "Jonah Reyes"),
    _slot(2, 9, 0, "yoga", "Vinyasa Flow", "Maya Chen"),
    _slot(3, 11, 0, "yoga", "Slow Flow", "Maya Chen"),
    _slot(4, 18, 0, "boxing", "Boxing Basics", "Marcus Hale"),
)]


@pytest.mark.parametrize(("text", "expected"), [
    ("book the 9am one", [1]),
    ("the 9 o'clock please", [1]),
    ("the 10:45 one", [2]),
    ("the 10:15 one", []),
    ("at 9", [1]),
    ("the second one", [1]),
    ("2nd", [1]),
    ("2", [1]),
    ("#3", [2]),
    ("option 4", [3]),
    ("the last one", [3]),
    ("first", [0]),
    ("the spin class", [0]),
    ("the spinning one", [0]),
    ("Maya's class", [1, 2]),
    ("the slow flow", [2]),
    ("the yoga at 11", [2]),
    ("the evening one", [3]),
    ("the 7am one", []),
    ("the fifth one", []),
    ("9", []),
    ("something else", []),
])
def test_resolve_reference(text: str, expected: list[int]) -> None:
    assert resolve_reference(text, LISTED) == expected


def test_reference_without_times() -> None:
    items = [Referent(keywords=["drop", "in"]), Referent(keywords=["unlimited"])]
    assert resolve_reference("unlimited please", items) == [1]
    assert resolve_reference("the 9am one", items) == []


@pytest.mark.parametrize(("text", "yes", "no"), [
    ("yes", True, False), ("Yes please!", True, False), ("yep", True, False),
    ("ok, book it", True, False), ("sure", True, False), ("go ahead", True, False),
    ("👍", True, False), ("sounds good", True, False),
    ("no", False, True), ("No thanks", False, True), ("nope", False, True),
    ("never mind", False, True), ("no, keep it", False, True), ("not now", False, True),
    ("no, the second one", False, False), ("yes the 11am one", False, False),
    ("when is yoga on saturday", False, False), ("", False, False),
])
def test_yes_and_no(text: str, yes: bool, no: bool) -> None:
    assert (is_affirmative(text), is_negative(text)) == (yes, no)
