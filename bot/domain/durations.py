"""Durations as a policy writes them: "30m", "4h", "1 business day", "8 business hours".

A wall-clock duration is plain elapsed time. A business duration only counts time inside
business hours; turning it into a deadline needs the policy's working time (see
`bot.domain.business_time.deadline`).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

DurationUnit = Literal["minutes", "hours", "days"]

_UNIT_WORDS: dict[str, DurationUnit] = {
    "m": "minutes",
    "min": "minutes",
    "mins": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "h": "hours",
    "hr": "hours",
    "hrs": "hours",
    "hour": "hours",
    "hours": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
}
_SHORT: dict[DurationUnit, str] = {"minutes": "m", "hours": "h", "days": "d"}
_PATTERN = re.compile(r"^\s*(\d+)\s*(business\s+)?([a-z]+)\s*$", re.IGNORECASE)
_EXAMPLES = '"30m", "4h", "2d", "8 business hours", "1 business day"'


class Duration(BaseModel):
    """An amount of time, wall-clock or business.

    >>> Duration.parse("1 business day")
    Duration(amount=1, unit='days', business=True)
    >>> str(Duration.parse("4 hours"))
    '4h'

    In a policy file a duration is always written as a string; it is validated from and
    serialised back to that string.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: int = Field(gt=0)
    unit: DurationUnit
    business: bool = False

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse "30m", "4h", "2 days", "8 business hours", "1 business day", ..."""
        return cls.model_validate(text)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, cls | dict):
            return value
        if not isinstance(value, str):
            raise ValueError(f"a duration is written as a string such as {_EXAMPLES}")
        match = _PATTERN.match(value)
        unit = _UNIT_WORDS.get(match.group(3).lower()) if match else None
        if match is None or unit is None:
            raise ValueError(f"{value!r} is not a duration; write e.g. {_EXAMPLES}")
        return {"amount": int(match.group(1)), "unit": unit, "business": bool(match.group(2))}

    @model_serializer
    def _to_text(self) -> str:
        return str(self)

    def __str__(self) -> str:
        if not self.business:
            return f"{self.amount}{_SHORT[self.unit]}"
        unit = self.unit[:-1] if self.amount == 1 else self.unit
        return f"{self.amount} business {unit}"

    def as_timedelta(self, *, business_day: timedelta | None = None) -> timedelta:
        """The length of this duration: elapsed time, or business time to be counted.

        A wall-clock day is 24 hours. A business day is `business_day` long (the length of
        the policy's business hours), which must then be given.
        """
        if self.unit == "minutes":
            return timedelta(minutes=self.amount)
        if self.unit == "hours":
            return timedelta(hours=self.amount)
        if not self.business:
            return timedelta(days=self.amount)
        if business_day is None:
            raise ValueError(f"{self} needs the length of a business day")
        return self.amount * business_day
