"""Day, time, class type and "which one" from a message, for the offline path.

Pure functions over text and today's date. Written for this domain's phrasings
rather than with dateparser: its `search_dates` finds dates in words like "one"
or "sat", needs a timezone-aware configuration per call, and cannot tell a class
time ("the 9am one") from a date; what a gym chat needs fits in this module.
"""

from __future__ import annotations

import difflib
import re
from datetime import date, time, timedelta

from pydantic import BaseModel, Field

from studio.models import AT_TOLERANCE_MINUTES, ClassSlot, ScheduleQuery

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_ABBREVIATIONS = {"mon": 0, "tue": 1, "tues": 1, "wed": 2, "weds": 2, "thu": 3,
                          "thur": 3, "thurs": 3, "fri": 4, "sat": 5, "sun": 6}
# "sat" and "sun" are everyday words too; take them as days only after these.
_DAY_LEAD = ("on", "this", "next", "for", "until", "till")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")
_MONTH_NUMBER = {**{m: i + 1 for i, m in enumerate(MONTHS)},
                 **{m[:3]: i + 1 for i, m in enumerate(MONTHS)}, "sept": 9}

CLASS_SYNONYMS: dict[str, str] = {
    "yoga": "yoga", "vinyasa": "yoga", "yin": "yoga", "hatha": "yoga", "flow": "yoga",
    "spin": "spin", "spinning": "spin", "cycling": "spin", "cycle": "spin", "bike": "spin",
    "ride": "spin", "peloton": "spin",
    "hiit": "hiit", "interval": "hiit", "intervals": "hiit", "bootcamp": "hiit",
    "circuit": "hiit", "circuits": "hiit", "tabata": "hiit",
    "pilates": "pilates", "reformer": "pilates",
    "boxing": "boxing", "box": "boxing", "kickboxing": "boxing", "boxercise": "boxing",
    "barre": "barre", "ballet": "barre",
    "strength": "strength", "weights": "strength", "lifting": "strength",
    "stretch": "stretch", "stretching": "stretch", "mobility": "stretch",
    "restore": "stretch", "recovery": "stretch",
}

# Named parts of the day as [start, end] of class start times.
PARTS_OF_DAY: dict[str, tuple[time, time]] = {
    "early morning": (time(5, 0), time(8, 0)),
    "morning": (time(5, 0), time(11, 59)),
    "lunchtime": (time(11, 30), time(13, 59)),
    "lunch": (time(11, 30), time(13, 59)),
    "midday": (time(11, 30), time(13, 59)),
    "afternoon": (time(12, 0), time(16, 59)),
    "after work": (time(17, 0), time(21, 0)),
    "evening": (time(17, 0), time(22, 0)),
    "tonight": (time(17, 0), time(22, 0)),
    "night": (time(17, 0), time(22, 0)),
}

ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
            "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10}


class TimeHint(BaseModel):
    """A time the message asks about: exact start times (candidates) or a window."""

    at: list[time] = Field(default_factory=list)
    start: time | None = None
    end: time | None = None


class Referent(BaseModel):
    """An item of a list shown before, as a reference like "the 9am one" can match it."""

    start: time | None = None
    keywords: list[str] = Field(default_factory=list)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _close(word: str, vocabulary: list[str], cutoff: float) -> str | None:
    if len(word) < 4:
        return None
    match = difflib.get_close_matches(word, vocabulary, n=1, cutoff=cutoff)
    return match[0] if match else None


def _upcoming(today: date, weekday: int, *, strictly_after: bool) -> date:
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and strictly_after:
        ahead = 7
    return today + timedelta(days=ahead)


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _calendar_date(text: str, today: date, day_first: bool) -> date | None:
    numeric = re.search(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b", text)
    if numeric:
        a, b, year = int(numeric[1]), int(numeric[2]), numeric[3]
        month, day = (b, a) if day_first else (a, b)
        return _with_year(today, month, day, year)
    month_names = "|".join(sorted(_MONTH_NUMBER, key=len, reverse=True))
    named = (re.search(rf"\b({month_names})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b", text)
             or re.search(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({month_names})\b", text))
    if named:
        first, second = named[1], named[2]
        month_word, day_text = (first, second) if first.isalpha() else (second, first)
        return _with_year(today, _MONTH_NUMBER[month_word], int(day_text), None)
    return None


def _with_year(today: date, month: int, day: int, year_text: str | None) -> date | None:
    if year_text:
        year = int(year_text)
        return _safe_date(year + 2000 if year < 100 else year, month, day)
    found = _safe_date(today.year, month, day)
    if found is not None and found < today:  # "March 12" said in November: next March
        found = _safe_date(today.year + 1, month, day)
    return found


def extract_day(text: str, today: date, *, day_first: bool = False) -> date | None:
    """The day a message talks about, if any ("tomorrow", "on Saturday", "12/3", "March 12")."""
    lowered = text.lower()
    if re.search(r"\bday after tomorrow\b", lowered):
        return today + timedelta(days=2)
    if re.search(r"\b(tomorrow|tmrw|tmr|tomorow|tommorow|tommorrow)\b", lowered):
        return today + timedelta(days=1)
    if re.search(r"\b(today|tonight|this (morning|afternoon|evening))\b", lowered):
        return today
    found = _calendar_date(lowered, today, day_first)
    if found is not None:
        return found
    tokens = words(lowered)
    for i, token in enumerate(tokens):
        lead = tokens[i - 1] if i else ""
        weekday = _weekday(token, lead)
        if weekday is not None:
            return _upcoming(today, weekday, strictly_after=lead == "next")
    if "weekend" in tokens:
        return today if today.weekday() == 6 else _upcoming(today, 5, strictly_after=False)
    return None


def _weekday(token: str, lead: str) -> int | None:
    plain = token[:-1] if token.endswith("s") and token[:-1] in WEEKDAYS else token
    if plain in WEEKDAYS:
        return WEEKDAYS.index(plain)
    if plain in _WEEKDAY_ABBREVIATIONS:
        if plain in ("sat", "sun") and lead not in _DAY_LEAD:
            return None
        return _WEEKDAY_ABBREVIATIONS[plain]
    close = _close(plain, list(WEEKDAYS), 0.8) if len(plain) >= 6 else None
    return WEEKDAYS.index(close) if close else None


def _clock(hour: int, minute: int, meridiem: str | None) -> list[time]:
    if minute > 59 or hour > 23:
        return []
    if meridiem:
        if hour == 0 or hour > 12:
            return []
        hour = hour % 12 + (12 if meridiem.startswith("p") else 0)
        return [time(hour, minute)]
    if hour == 0 or hour >= 12:
        return [time(hour, minute)]
    return [time(hour, minute), time(hour + 12, minute)]  # "at 6": morning or evening


def _times_in(text: str) -> list[tuple[str, list[time]]]:
    """(word before, candidate times) of every clock time in the text, in order."""
    found: list[tuple[int, str, list[time]]] = []
    pattern = (r"\b(\d{1,2})(?:[:.](\d{2}))?\s*(a\.?m\.?|p\.?m\.?)(?![a-z])"
               r"|\b(\d{1,2}):(\d{2})\b"
               r"|\b(at|after|before|from|around)\s+(\d{1,2})\b(?![/:.]|\s*[ap]\.?m)"
               r"|\b(\d{1,2})\s*o'?\s?clock\b")
    for m in re.finditer(pattern, text):
        if m[1]:
            times = _clock(int(m[1]), int(m[2] or 0), m[3].replace(".", ""))
        elif m[4]:
            times = _clock(int(m[4]), int(m[5]), None)
        elif m[7]:
            times = _clock(int(m[7]), 0, None)
        else:
            times = _clock(int(m[8]), 0, None)
        lead = m[6] or (words(text[:m.start()])[-1:] or [""])[0]
        if times:
            found.append((m.start(), lead, times))
    for m in re.finditer(r"\b(noon|midday)\b", text):
        found.append((m.start(), (words(text[:m.start()])[-1:] or [""])[0], [time(12, 0)]))
    return [(lead, times) for _, lead, times in sorted(found, key=lambda item: item[0])]


def extract_time(text: str) -> TimeHint | None:
    """The time a message asks about: "9am", "9:30", "after 6pm", "evening"."""
    lowered = text.lower()
    for lead, times in _times_in(lowered):
        if lead in ("after", "from"):
            return TimeHint(start=times[-1])  # "after 6" at a gym means the evening
        if lead == "before":
            return TimeHint(end=times[0])
        return TimeHint(at=times)
    for name, (start, end) in PARTS_OF_DAY.items():
        if re.search(rf"\b{name}\b", lowered):
            return TimeHint(start=start, end=end)
    return None


def extract_class_type(text: str) -> str | None:
    """The class type a message names, allowing synonyms and small typos."""
    tokens = words(text)
    for token in tokens:
        if token in CLASS_SYNONYMS:
            return CLASS_SYNONYMS[token]
    vocabulary = list(CLASS_SYNONYMS)
    for token in tokens:
        close = _close(token, vocabulary, 0.8)
        if close:
            return CLASS_SYNONYMS[close]
    return None


def extract_schedule_query(text: str, today: date, *, day_first: bool = False) -> ScheduleQuery:
    """Everything the schedule can be filtered on, from one message."""
    hint = extract_time(text)
    return ScheduleQuery(
        day=extract_day(text, today, day_first=day_first), class_type=extract_class_type(text),
        at=hint.at if hint else [], start_time=hint.start if hint else None,
        end_time=hint.end if hint else None)


def _ordinal(text: str, count: int) -> int | None:
    tokens = words(text)
    if re.fullmatch(r"\s*#?\d{1,2}\s*[.)]?\s*", text):
        number = int(re.sub(r"\D", "", text))
        return number - 1 if 1 <= number <= count else None
    for i, token in enumerate(tokens):
        if token in ORDINALS and ORDINALS[token] <= count:
            return ORDINALS[token] - 1
        if token in ("last", "latest", "final"):
            return count - 1 if count else None
        suffixed = re.fullmatch(r"(\d{1,2})(st|nd|rd|th)", token)
        if suffixed and 1 <= int(suffixed[1]) <= count:
            return int(suffixed[1]) - 1
        if token in ("number", "option", "no") and i + 1 < len(tokens) and tokens[i + 1].isdigit():
            number = int(tokens[i + 1])
            return number - 1 if 1 <= number <= count else None
    hashed = re.search(r"#(\d{1,2})\b", text)
    if hashed and 1 <= int(hashed[1]) <= count:
        return int(hashed[1]) - 1
    return None


def referent_from_slot(slot: ClassSlot) -> Referent:
    """What a listed class can be called: its time, type, title words, instructor."""
    names = [slot.class_type, *words(slot.title), *words(slot.instructor)]
    return Referent(start=slot.starts_at.time(), keywords=names)


def resolve_reference(text: str, items: list[Referent]) -> list[int]:
    """Indices of the listed items a message points at ("the second one", "the 9am one").

    One index is a clear choice; several mean the message fits more than one; none,
    that it names nothing on the list.
    """
    ordinal = _ordinal(text, len(items))
    if ordinal is not None:
        return [ordinal]
    candidates = list(range(len(items)))
    hint = extract_time(text)
    if hint is not None:
        # an exact time first; "the 6am one" may still mean the 6:30 class
        exact = [i for i in candidates if _fits(items[i].start, hint, 0)]
        candidates = exact or [i for i in candidates
                               if _fits(items[i].start, hint, AT_TOLERANCE_MINUTES)]
    tokens = set(words(text))
    class_type = extract_class_type(text)
    if class_type:
        tokens.add(class_type)
    hits = {i: len(tokens & {k.lower() for k in items[i].keywords}) for i in candidates}
    best = max(hits.values(), default=0)
    if best:  # the items naming most of what the message says: "slow flow" over "flow"
        return [i for i in candidates if hits[i] == best]
    return candidates if hint is not None else []


def _fits(start: time | None, hint: TimeHint, slack: int) -> bool:
    if start is None:
        return False
    if hint.at:
        minutes = start.hour * 60 + start.minute
        return any(abs(minutes - (t.hour * 60 + t.minute)) <= slack for t in hint.at)
    return (hint.start is None or start >= hint.start) and (hint.end is None or start <= hint.end)


