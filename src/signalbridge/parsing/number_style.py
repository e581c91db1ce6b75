"""A message's number style, where one of its prices settles it: "63.000" is 63 thousand
in a message that also writes "65.000,50".

A lone "63.000" is ambiguous (63 with three decimals, or 63 thousand with a dot between
the groups), so the lexer reads it as the decimal it looks like. A price written with dot
groups and a decimal comma (numbers.DOT_GROUPS_COMMA) shows that the message groups its
thousands with dots; then every one-group price of the message is read that way too.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

from signalbridge.parsing.lexer import Lexeme, Lx
from signalbridge.parsing.numbers import DOT_GROUPS_COMMA, ONE_DOT_GROUP

_NUM: Final = int(Lx.NUM)
# the end of a dot group and a decimal comma: a scan in C, before any lexeme is looked at
_STYLE_HINT: Final = re.compile(r"\.\d{3},\d").search


def may_group_with_dots(text: str) -> bool:
    """Whether ``text`` can hold a price with dot groups and a decimal comma (a cheap
    test in front of :func:`regroup_dotted`)."""
    return "," in text and "." in text and _STYLE_HINT(text) is not None


def regroup_dotted(lexemes: list[Lexeme]) -> list[Lexeme]:
    """The lexemes with one-group prices ("63.000") read as thousands when another price
    of the message has dot groups and a decimal comma; unchanged otherwise."""
    if not any(lx.kind == _NUM and DOT_GROUPS_COMMA.fullmatch(lx.text) for lx in lexemes):
        return lexemes
    return [
        Lexeme(_NUM, lx.text, Decimal(lx.text.replace(".", "")))
        if lx.kind == _NUM and ONE_DOT_GROUP.fullmatch(lx.text)
        else lx
        for lx in lexemes
    ]
