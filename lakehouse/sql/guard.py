"""What a SQL statement may do here, decided before any engine sees it: read the lakehouse's names, nothing else.

One tokenizer serves both engines (polars' SQL and Spark SQL): it knows strings (``'...'``), quoted names
(``"..."`` and ```...```), comments and words, which is all the rules below need.

The rules, in order (each refusal is a :class:`~lakehouse.errors.QueryRefused` naming what was refused):

1. one statement (a trailing ``;`` is fine), starting with ``SELECT``, ``WITH``, ``VALUES`` or ``(``: every
   other statement (``CREATE``, ``INSERT``, ``DELETE``, ``DROP``, ``COPY``, ``SET``, ``EXPLAIN``...) is refused;
2. no word that writes anywhere in it (``INSERT``, ``UPDATE``, ``DELETE``, ``MERGE``, ``INTO``...), so a
   ``WITH ... INSERT`` or ``SELECT ... INTO`` cannot slip through; quote a column that has such a name;
3. no function that reads files or calls into the JVM (``read_parquet``, ``read_csv``, ``scan_*``,
   ``reflect``...), and no table named by a path (Spark's ``parquet.`/etc/...```).

What remains can only read the tables the catalog registers (:mod:`lakehouse.sql.catalog`): the engines are
given nothing else. :func:`inspect` also returns the tables the query names (so only those are registered) and
the names of its common table expressions (which are not lakehouse names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from lakehouse.errors import QueryError, QueryRefused

TokenKind = Literal["word", "name", "string", "number", "symbol"]

_QUERY_STARTS = {"select", "with", "values"}
_WRITES = {
    "insert",
    "update",
    "delete",
    "merge",
    "create",
    "drop",
    "alter",
    "truncate",
    "copy",
    "grant",
    "revoke",
    "attach",
    "detach",
    "install",
    "call",
    "into",
    "vacuum",
    "optimize",
}
_FILE_FUNCTIONS = re.compile(r"(read|scan)_\w*|reflect|try_reflect|java_method|read_files|input_file_\w*", re.ASCII)
# Spark reads a file or folder named in place of a table: FROM parquet.`/path`.
_PATH_FORMATS = {"parquet", "csv", "json", "orc", "text", "delta", "avro", "binaryfile", "xml", "jdbc", "hive", "file"}
_TABLE_ENDS = {
    "where",
    "group",
    "order",
    "having",
    "limit",
    "offset",
    "join",
    "inner",
    "left",
    "right",
    "full",
    "cross",
    "natural",
    "on",
    "using",
    "union",
    "except",
    "intersect",
    "window",
    "qualify",
    "lateral",
    "tablesample",
    "pivot",
    "unpivot",
    "semi",
    "anti",
    "outer",
    "fetch",
    "for",
}
# Functions whose arguments use the word FROM.
_FROM_FUNCTIONS = ("extract", "substring", "substr", "trim", "position", "overlay", "date_part")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*", re.ASCII)
_NUMBER = re.compile(r"\d+(\.\d*)?([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?", re.ASCII)


@dataclass(frozen=True)
class Token:
    """One token: ``value`` is the word, the unquoted name or string, or the symbol; ``start``/``end`` index
    the query text."""

    kind: TokenKind
    value: str
    start: int
    end: int

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.value.lower() in words


@dataclass(frozen=True)
class Inspected:
    """A query that passed the rules: its text without a trailing ``;``, its tokens, the tables it reads (as
    written, in order of first use) and the names of its common table expressions."""

    text: str
    tokens: tuple[Token, ...]
    tables: tuple[Token, ...]
    ctes: frozenset[str]


def tokenize(query: str) -> list[Token]:
    """Split ``query`` into tokens, dropping whitespace and comments."""
    tokens: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
        elif query.startswith("--", i):
            end = query.find("\n", i)
            i = n if end < 0 else end + 1
        elif query.startswith("/*", i):
            end = query.find("*/", i + 2)
            if end < 0:
                msg = f"the comment opened at character {i + 1} is never closed"
                raise QueryError(msg)
            i = end + 2
        elif ch in "'\"`":
            end, value = _quoted(query, i, ch)
            tokens.append(Token("string" if ch == "'" else "name", value, i, end))
            i = end
        elif match := _WORD.match(query, i):
            tokens.append(Token("word", match.group(), i, match.end()))
            i = match.end()
        elif match := _NUMBER.match(query, i):
            tokens.append(Token("number", match.group(), i, match.end()))
            i = match.end()
        else:
            tokens.append(Token("symbol", ch, i, i + 1))
            i += 1
    return tokens


def _quoted(query: str, start: int, quote: str) -> tuple[int, str]:
    """``(end, unquoted text)`` of the quoted token at ``start``; a doubled quote stands for itself."""
    out: list[str] = []
    i = start + 1
    while True:
        end = query.find(quote, i)
        if end < 0:
            what = "string" if quote == "'" else "quoted name"
            msg = f"the {what} opened at character {start + 1} is never closed ({query[start : start + 30]!r})"
            raise QueryError(msg)
        out.append(query[i:end])
        if query.startswith(quote * 2, end):
            out.append(quote)
            i = end + 2
            continue
        return end + 1, "".join(out)


def inspect(query: object) -> Inspected:
    """Check ``query`` against the rules of this module; return what it reads.

    Raises:
        QueryRefused: the statement is not a read-only query over the lakehouse's names.
        QueryError: the text cannot be split into tokens (an unclosed string or comment), or is empty.
    """
    if not isinstance(query, str):
        msg = f"a query must be a string of SQL, got {type(query).__name__}"
        raise QueryError(msg)
    tokens = tokenize(query)
    while tokens and tokens[-1].kind == "symbol" and tokens[-1].value == ";":
        tokens.pop()
    if not tokens:
        msg = "the query is empty; write a SELECT, e.g. SELECT * FROM runs"
        raise QueryError(msg)
    for token in tokens:
        if token.kind == "symbol" and token.value == ";":
            msg = "one statement at a time: the query holds more than one (separated by ';')"
            raise QueryRefused(msg)
    first = tokens[0]
    if not (first.is_word(*_QUERY_STARTS) or (first.kind == "symbol" and first.value == "(")):
        msg = (
            f"only queries run here: {first.value.upper()} statements are refused (SQL over the lakehouse is "
            "read-only; start with SELECT or WITH)"
        )
        raise QueryRefused(msg)
    for i, token in enumerate(tokens):
        calls = i + 1 < len(tokens) and tokens[i + 1].value == "(" and tokens[i + 1].kind == "symbol"
        if token.kind == "word" and token.value.lower() in _WRITES and not calls:
            msg = (
                f"{token.value.upper()} is refused: SQL over the lakehouse is read-only "
                f"(a column named {token.value!r} must be written in double quotes)"
            )
            raise QueryRefused(msg)
        if token.kind == "word" and calls and _FILE_FUNCTIONS.fullmatch(token.value.lower()):
            msg = (
                f"function {token.value}() is refused: queries read only the lakehouse's tables by name, "
                "never files by path"
            )
            raise QueryRefused(msg)
    return Inspected(
        text=query[: tokens[-1].end],
        tokens=tuple(tokens),
        tables=tuple(_tables(tokens)),
        ctes=frozenset(_ctes(tokens)),
    )


def _ctes(tokens: list[Token]) -> list[str]:
    """Names defined as ``WITH name AS (`` or ``, name (columns) AS (``."""
    found = []
    for i, token in enumerate(tokens[:-1]):
        before = tokens[i - 1] if i else None
        if before is None or not (before.is_word("with", "recursive") or before.value == ","):
            continue
        if token.kind not in ("word", "name"):
            continue
        j = i + 1
        if tokens[j].value == "(" and tokens[j].kind == "symbol":  # a column list
            while j < len(tokens) and tokens[j].value != ")":
                j += 1
            j += 1
        if j + 1 < len(tokens) and tokens[j].is_word("as") and tokens[j + 1].value == "(":
            found.append(token.value)
    return found


def _tables(tokens: list[Token]) -> list[Token]:
    """The tables a query reads: the names after ``FROM`` and ``JOIN`` (and after commas in a ``FROM`` list).

    A dotted name is one token here (its parts joined by '.'); Spark's path-as-table form is refused.
    """
    found: list[Token] = []
    openers: list[Token | None] = []  # the token before each open parenthesis
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.kind == "symbol" and token.value in "()":
            if token.value == "(":
                openers.append(tokens[i - 1] if i else None)
            elif openers:
                openers.pop()
            i += 1
            continue
        inside = openers[-1] if openers else None
        if (
            not token.is_word("from", "join")
            or (inside is not None and inside.is_word(*_FROM_FUNCTIONS))  # EXTRACT(YEAR FROM at)
            or (i and tokens[i - 1].is_word("distinct"))  # IS DISTINCT FROM
        ):
            i += 1
            continue
        i += 1
        while i < len(tokens):
            if tokens[i].value == "(" or tokens[i].is_word("lateral", "unnest"):
                break  # a subquery or a function of rows: its own FROM is found by the outer loop
            name, i = _dotted(tokens, i)
            if name is None:
                break
            if i < len(tokens) and tokens[i].value == "(" and tokens[i].kind == "symbol":
                msg = f"table function {name.value}() is refused: queries read the lakehouse's tables by name"
                raise QueryRefused(msg)
            found.append(name)
            # An optional alias, then a comma for another table of the FROM list.
            if i < len(tokens) and tokens[i].is_word("as"):
                i += 1
            if i < len(tokens) and tokens[i].kind in ("word", "name") and not tokens[i].is_word(*_TABLE_ENDS):
                i += 1
            if i < len(tokens) and tokens[i].value == "," and tokens[i].kind == "symbol":
                i += 1
                continue
            break
    return found


def _dotted(tokens: list[Token], i: int) -> tuple[Token | None, int]:
    """The (possibly dotted) name starting at ``i`` as one token, and the index after it."""
    if i >= len(tokens) or tokens[i].kind not in ("word", "name"):
        return None, i
    parts = [tokens[i]]
    i += 1
    while i + 1 < len(tokens) and tokens[i].value == "." and tokens[i + 1].kind in ("word", "name"):
        parts.append(tokens[i + 1])
        i += 2
    if len(parts) > 1:
        if parts[0].kind == "word" and parts[0].value.lower() in _PATH_FORMATS:
            msg = f"reading {parts[0].value}.`{parts[1].value}` is refused: queries never read files by path"
            raise QueryRefused(msg)
        text = ".".join(p.value for p in parts)
        msg = f"table {text!r} is not a lakehouse name: qualified names (catalog.schema.table) are refused"
        raise QueryRefused(msg)
    return parts[0], i
