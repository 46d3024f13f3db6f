"""Recursive-descent parser of the filter language.

Grammar (keywords are case-insensitive; whitespace between terms means ``and``)::

    filter  := or EOF
    or      := and ( "or" and )*
    and     := unary ( ["and"] unary )*
    unary   := "not" unary | primary
    primary := "(" or ")" | term
    term    := NAME                                   # a flag: NAME=true
             | NAME OP value                          # OP: = == != > >= < <= ~
             | NAME "in" "(" value ("," value)* [","] ")"
    value   := WORD | "quoted" | 'quoted'
"""

from __future__ import annotations

from . import ast
from .errors import FilterSyntaxError
from .lexer import COMMA, EOF, LPAREN, OP, RPAREN, STRING, WORD, Token, tokenize

MAX_DEPTH = 64
_VALUE_HINT = "values may carry units, e.g. memory>=40Gi; quote values with spaces or symbols"


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.depth = 0

    # -- helpers --------------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        tok = self.tokens[self.pos]
        if tok.kind != EOF:
            self.pos += 1
        return tok

    def error(self, message: str, column: int, hint: str | None = None) -> FilterSyntaxError:
        return FilterSyntaxError(message, self.text, column, hint=hint)

    # -- grammar --------------------------------------------------------------------------

    def parse(self) -> ast.Node:
        if self.tok.kind == EOF:
            raise self.error("empty filter", 0, hint="e.g. memory>=40Gi mig=false")
        node = self.parse_or()
        if self.tok.kind != EOF:
            if self.tok.kind == RPAREN:
                raise self.error("unexpected ')' in filter (no matching '(')", self.tok.start)
            raise self.error(f"unexpected {self.tok.describe()} in filter", self.tok.start)
        return node

    def parse_or(self) -> ast.Node:
        operands = [self.parse_and()]
        while self.tok.keyword() == "or":
            kw = self.advance()
            if self._ends_term():
                raise self.error(f"expected a term after {kw.value!r} in filter", self.tok.start)
            operands.append(self.parse_and())
        if len(operands) == 1:
            return operands[0]
        return ast.Or(tuple(operands), operands[0].start, operands[-1].end)

    def _ends_term(self) -> bool:
        return self.tok.kind in (EOF, RPAREN) or self.tok.keyword() in ("or", "and")

    def parse_and(self) -> ast.Node:
        operands = [self.parse_unary()]
        while True:
            if self.tok.keyword() == "and":
                kw = self.advance()
                if self._ends_term():
                    raise self.error(f"expected a term after {kw.value!r} in filter", self.tok.start)
            elif self.tok.kind in (EOF, RPAREN) or self.tok.keyword() == "or":
                break
            operands.append(self.parse_unary())
        if len(operands) == 1:
            return operands[0]
        return ast.And(tuple(operands), operands[0].start, operands[-1].end)

    def parse_unary(self) -> ast.Node:
        if self.tok.keyword() == "not":
            kw = self.advance()
            if self._ends_term():
                raise self.error(f"expected a term after {kw.value!r} in filter", self.tok.start)
            self._enter(kw)
            operand = self.parse_unary()
            self.depth -= 1
            return ast.Not(operand, kw.start, operand.end)
        return self.parse_primary()

    def _enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"filter nested too deeply (more than {MAX_DEPTH} levels)", tok.start)

    def parse_primary(self) -> ast.Node:
        tok = self.tok
        if tok.kind == LPAREN:
            self.advance()
            self._enter(tok)
            if self.tok.kind == RPAREN:
                raise self.error("expected a term inside '()' in filter", self.tok.start)
            node = self.parse_or()
            self.depth -= 1
            if self.tok.kind != RPAREN:
                raise self.error(f"expected ')' to close the '(' at column {tok.start}", self.tok.start)
            self.advance()
            return node
        if tok.kind == WORD and tok.keyword() is None:
            return self.parse_term()
        if tok.kind == WORD:
            raise self.error(f"expected an attribute name, found the keyword {tok.value!r}", tok.start)
        if tok.kind == OP:
            raise self.error(f"expected an attribute name before {tok.value!r} in filter", tok.start)
        if tok.kind == STRING:
            raise self.error("expected an attribute name, found a quoted value", tok.start,
                             hint="attribute names are not quoted: product=\"NVIDIA H100\"")
        raise self.error(f"expected an attribute name, found {tok.describe()}", tok.start)

    def parse_term(self) -> ast.Node:
        name_tok = self.advance()
        name = ast.Name(name_tok.value, name_tok.start, name_tok.end)
        if self.tok.kind == OP:
            op = self.advance()
            value = self.parse_value(f"after '{op.value if op.value != '=' else self.text[op.start:op.end]}'")
            return ast.Compare(name, op.value, (value,), name.start, value.end)
        if self.tok.keyword() == "in":
            kw = self.advance()
            if self.tok.kind != LPAREN:
                raise self.error(f"expected '(' after {kw.value!r} in filter", self.tok.start,
                                 hint="e.g. profile in (1g.10gb, 2g.20gb)")
            self.advance()
            values = [self.parse_value("in the list")]
            while self.tok.kind == COMMA:
                self.advance()
                if self.tok.kind == RPAREN:  # a trailing comma
                    break
                values.append(self.parse_value("after ','"))
            if self.tok.kind != RPAREN:
                raise self.error("expected ',' or ')' in the list of values", self.tok.start)
            end = self.advance().end
            return ast.Compare(name, "in", tuple(values), name.start, end)
        return ast.Flag(name, name.start, name.end)

    def parse_value(self, where: str) -> ast.Value:
        tok = self.tok
        if tok.kind == STRING:
            self.advance()
            return ast.Value(tok.value, True, tok.start, tok.end)
        if tok.kind == WORD:
            self.advance()
            return ast.Value(tok.value, False, tok.start, tok.end)
        raise self.error(f"expected a value {where} in filter", tok.start, hint=_VALUE_HINT)


def parse(text: str) -> ast.Node:
    """Parse filter ``text`` into its tree; raise FilterSyntaxError if it does not parse."""
    return Parser(text).parse()
