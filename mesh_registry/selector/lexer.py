"""Tokens of the label selector language, as Kubernetes' ``labels.Lexer`` produces them."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Token(enum.Enum):
    END = "end of string"
    IDENTIFIER = "identifier"
    OPEN_PAREN = "("
    CLOSE_PAREN = ")"
    COMMA = ","
    NOT = "!"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    GREATER_THAN = ">"
    LESS_THAN = "<"
    IN = "in"
    NOT_IN = "notin"


@dataclass(frozen=True, slots=True)
class Lexeme:
    token: Token
    literal: str
    position: int

    def describe(self) -> str:
        """How error messages show this lexeme."""
        return "end of string" if self.token is Token.END else f"'{self.literal}'"


# Kubernetes' whitespace: only these four. Any other character (unicode spaces included) is part
# of an identifier, where key and value validation then reject it.
WHITESPACE = frozenset(" \t\r\n")
SPECIAL = frozenset("=!(),><")
_SYMBOLS = {token.value: token for token in Token if token.value and token.value[0] in SPECIAL}
_KEYWORDS = {"in": Token.IN, "notin": Token.NOT_IN}


def tokenize(text: str) -> list[Lexeme]:
    """Split ``text`` into lexemes; the last one is always ``Token.END``."""
    lexemes: list[Lexeme] = []
    position = 0
    length = len(text)
    while True:
        while position < length and text[position] in WHITESPACE:
            position += 1
        if position == length:
            lexemes.append(Lexeme(Token.END, "", position))
            return lexemes
        if text[position] in SPECIAL:
            # Longest match, as Kubernetes scans: "!=" and "==" before "!" and "=".
            symbol = text[position : position + 2]
            if symbol not in _SYMBOLS:
                symbol = text[position]
            lexemes.append(Lexeme(_SYMBOLS[symbol], symbol, position))
            position += len(symbol)
            continue
        start = position
        while position < length and text[position] not in SPECIAL | WHITESPACE:
            position += 1
        word = text[start:position]
        lexemes.append(Lexeme(_KEYWORDS.get(word, Token.IDENTIFIER), word, start))
