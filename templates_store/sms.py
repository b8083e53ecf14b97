"""SMS length arithmetic: GSM 03.38 (7-bit) or UCS-2 encoding and the segments a text needs.

An SMS carries 140 octets: 160 GSM-7 septets or 70 UCS-2 code units alone, and 153 or 67
per part once a message is split (the rest is the concatenation header). Carriers bill
per part, so the segment count is what a campaign manager has to keep in sight.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GSM7_BASIC", "GSM7_EXTENSION", "SmsInfo", "sms_info"]

#: GSM 03.38 default alphabet (one septet each); the escape code 0x1B is left out.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: GSM 03.38 extension table: escape septet + one more, so two septets each.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

_SINGLE = {"GSM-7": 160, "UCS-2": 70}
_PART = {"GSM-7": 153, "UCS-2": 67}


@dataclass(frozen=True)
class SmsInfo:
    """How a text travels as SMS.

    ``characters`` is the length in the encoding's units: GSM-7 septets (extension
    characters such as '€' or '{' count 2) or UTF-16 code units for UCS-2 (an emoji counts 2).
    """

    encoding: str
    characters: int
    segments: int


def _units(text: str, encoding: str) -> list[int]:
    """Length of each character in the encoding's units."""
    if encoding == "GSM-7":
        return [2 if char in GSM7_EXTENSION else 1 for char in text]
    return [2 if ord(char) > 0xFFFF else 1 for char in text]


def sms_info(text: str) -> SmsInfo:
    """Encoding, length and segment count of ``text`` sent as one (possibly split) SMS.

    A split never cuts an escape sequence or a surrogate pair in two, as real encoders
    do, so a part may hold one unit less than 153 / 67. An empty text still costs one SMS.
    """
    encoding = "GSM-7" if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text) else "UCS-2"
    units = _units(text, encoding)
    characters = sum(units)
    if characters <= _SINGLE[encoding]:
        return SmsInfo(encoding, characters, 1)
    capacity = _PART[encoding]
    segments, used = 1, 0
    for size in units:
        if used + size > capacity:
            segments, used = segments + 1, 0
        used += size
    return SmsInfo(encoding, characters, segments)
