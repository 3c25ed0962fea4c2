"""A recursive-descent parser for label selectors, following Kubernetes' ``labels.Parse``.

Grammar (whitespace between tokens is ignored)::

    selector    ::= "" | requirement ("," requirement)*
    requirement ::= ["!"] KEY [ set-match | exact-match ]
    set-match   ::= ("in" | "notin") "(" values ")"
    exact-match ::= ("=" | "==" | "!=" | ">" | "<") VALUE
    values      ::= VALUE ("," VALUE)*       (VALUE may be empty: "()" is the set {""})

Kubernetes' quirks are kept on purpose, because users move selectors between kubectl and us:
``in`` and ``notin`` are plain identifiers where a key or a value is expected, ``x=`` means
"x is the empty string", and ``(,,)`` is an error while ``(,)`` is ``{""}``.
"""

from __future__ import annotations

import enum

from mesh_registry.selector.errors import SelectorError
from mesh_registry.selector.lexer import Lexeme, Token, tokenize
from mesh_registry.selector.requirement import Operator, Requirement, RequirementError

_BINARY_OPERATORS = {
    Token.IN: Operator.IN,
    Token.NOT_IN: Operator.NOT_IN,
    Token.EQUALS: Operator.EQUALS,
    Token.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
    Token.NOT_EQUALS: Operator.NOT_EQUALS,
    Token.GREATER_THAN: Operator.GREATER_THAN,
    Token.LESS_THAN: Operator.LESS_THAN,
}
_EXPECTED_OPERATORS = "in, notin, =, ==, !=, >, <"


class _Context(enum.Enum):
    KEY_AND_OPERATOR = enum.auto()
    # Where a key or value is expected, the keywords "in" and "notin" are identifiers.
    VALUES = enum.auto()


class Parser:
    """Parses one selector text into requirements (in text order)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._lexemes = tokenize(text)
        self._index = 0

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            lexeme = self._peek(_Context.VALUES)
            if lexeme.token is Token.END:
                return requirements
            if lexeme.token not in (Token.IDENTIFIER, Token.NOT):
                raise self._error(lexeme, "expected: !, identifier, or end of string")
            requirements.append(self._requirement())
            after = self._next(_Context.VALUES)
            if after.token is Token.END:
                return requirements
            if after.token is not Token.COMMA:
                raise self._error(after, "expected: ',' or end of string")
            following = self._peek(_Context.VALUES)
            if following.token not in (Token.IDENTIFIER, Token.NOT):
                raise self._error(following, "expected: identifier after ','")

    def _requirement(self) -> Requirement:
        start = self._peek(_Context.VALUES)
        key, operator = self._key_and_inferred_operator()
        values: list[Lexeme] = []
        if operator is None:
            operator = self._operator()
            if operator in (Operator.IN, Operator.NOT_IN):
                values = self._value_set()
            else:
                values = self._exact_value()
        try:
            return Requirement.create(key.literal, operator, [v.literal for v in values])
        except RequirementError as error:
            at = start.position
            if error.field.startswith("values[") and values:
                at = values[int(error.field[7:-1])].position
            elif error.field == "key":
                at = key.position
            raise SelectorError(error.message, text=self._text, position=at) from None

    def _key_and_inferred_operator(self) -> tuple[Lexeme, Operator | None]:
        lexeme = self._next(_Context.VALUES)
        negated = lexeme.token is Token.NOT
        if negated:
            lexeme = self._next(_Context.VALUES)
        if lexeme.token is not Token.IDENTIFIER:
            raise self._error(lexeme, "expected: identifier")
        try:
            Requirement.create(lexeme.literal, Operator.EXISTS)
        except RequirementError as error:
            raise SelectorError(error.message, text=self._text, position=lexeme.position) from None
        if negated:
            # "!key" takes no operator; whatever follows is then reported by the caller.
            return lexeme, Operator.DOES_NOT_EXIST
        if self._peek(_Context.VALUES).token in (Token.END, Token.COMMA):
            return lexeme, Operator.EXISTS
        return lexeme, None

    def _operator(self) -> Operator:
        lexeme = self._next(_Context.KEY_AND_OPERATOR)
        operator = _BINARY_OPERATORS.get(lexeme.token)
        if operator is None:
            raise self._error(lexeme, f"expected: {_EXPECTED_OPERATORS}")
        return operator

    def _value_set(self) -> list[Lexeme]:
        opening = self._next(_Context.VALUES)
        if opening.token is not Token.OPEN_PAREN:
            raise self._error(opening, "expected: '('")
        lexeme = self._peek(_Context.VALUES)
        if lexeme.token is Token.CLOSE_PAREN:
            self._next(_Context.VALUES)
            return [Lexeme(Token.IDENTIFIER, "", lexeme.position)]
        if lexeme.token not in (Token.IDENTIFIER, Token.COMMA):
            raise self._error(lexeme, "expected: ',', ')' or identifier")
        values = self._identifier_list()
        self._next(_Context.VALUES)  # the ")" that ended the list
        return values

    def _identifier_list(self) -> list[Lexeme]:
        """Comma-separated, possibly empty, values up to (not including) the closing ")"."""
        values: list[Lexeme] = []
        while True:
            lexeme = self._next(_Context.VALUES)
            if lexeme.token is Token.IDENTIFIER:
                values.append(lexeme)
                following = self._peek(_Context.VALUES)
                if following.token is Token.CLOSE_PAREN:
                    return values
                if following.token is not Token.COMMA:
                    raise self._error(following, "expected: ',' or ')'")
            elif lexeme.token is Token.COMMA:
                empty = Lexeme(Token.IDENTIFIER, "", lexeme.position)
                if not values:
                    values.append(empty)  # "(,"
                following = self._peek(_Context.VALUES)
                if following.token is Token.CLOSE_PAREN:
                    values.append(empty)  # ",)"
                    return values
                if following.token is Token.COMMA:
                    self._next(_Context.VALUES)
                    values.append(empty)  # ",,"
            else:
                raise self._error(lexeme, "expected: ',', or identifier")

    def _exact_value(self) -> list[Lexeme]:
        lexeme = self._peek(_Context.VALUES)
        if lexeme.token in (Token.END, Token.COMMA):
            return [Lexeme(Token.IDENTIFIER, "", lexeme.position)]  # "key=" means the empty value
        lexeme = self._next(_Context.VALUES)
        if lexeme.token is not Token.IDENTIFIER:
            raise self._error(lexeme, "expected: identifier")
        return [lexeme]

    def _peek(self, context: _Context) -> Lexeme:
        return self._in_context(self._lexemes[self._index], context)

    def _next(self, context: _Context) -> Lexeme:
        lexeme = self._lexemes[self._index]
        # END repeats forever, so a look past the end is harmless.
        if lexeme.token is not Token.END:
            self._index += 1
        return self._in_context(lexeme, context)

    @staticmethod
    def _in_context(lexeme: Lexeme, context: _Context) -> Lexeme:
        if context is _Context.VALUES and lexeme.token in (Token.IN, Token.NOT_IN):
            return Lexeme(Token.IDENTIFIER, lexeme.literal, lexeme.position)
        return lexeme

    def _error(self, lexeme: Lexeme, expected: str) -> SelectorError:
        return SelectorError(
            f"found {lexeme.describe()}, {expected}", text=self._text, position=lexeme.position
        )
