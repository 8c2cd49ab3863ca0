"""Parser for the Graph API ``fields=`` parameter.

Graph field selection is a tiny language: a comma list of names, each optionally followed by modifiers chained with
dots (``.limit(5)``, ``.metric(reach,saved)``, ``.period(lifetime)``, ``.breakdown(x)``, ``.as(alias)``) and a nested
selection in braces (``children{id,media_url}``). The emulator must parse it exactly because the tap relies on field
expansion to save calls, and a lenient parser would hide malformed requests. Malformed input raises the code-100
"Syntax error" Meta returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import GraphError

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
KNOWN_MODIFIERS = frozenset(
    {"limit", "metric", "period", "breakdown", "as", "since", "until", "metric_type", "timeframe"}
)


@dataclass
class FieldSpec:
    """One requested field: its name, modifiers (raw argument text by modifier name), nested selection and alias."""

    name: str
    modifiers: dict[str, str] = field(default_factory=dict)
    children: list[FieldSpec] | None = None
    alias: str | None = None

    @property
    def key(self) -> str:
        """The key the field appears under in the response (the alias when one was given)."""
        return self.alias or self.name

    def modifier_list(self, name: str) -> list[str]:
        """A comma-list modifier such as ``metric(a,b)`` split into its items (empty list when absent)."""
        raw = self.modifiers.get(name)
        if raw is None:
            return []
        return [part.strip() for part in raw.split(",") if part.strip()]


def _syntax_error(text: str, pos: int, expected: str) -> GraphError:
    found = f'"{text[pos]}"' if pos < len(text) else "end of string"
    return GraphError(
        f'Syntax error "Expected {expected} instead of {found}." at character {pos}: {text}',
        code=100,
    )


class _Parser:
    """Recursive-descent parser over the raw ``fields`` text; positions are reported like Meta's (0-based)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def _peek(self) -> str:
        self._skip_ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _name(self) -> str:
        self._skip_ws()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _NAME_CHARS:
            self.pos += 1
        if start == self.pos:
            raise _syntax_error(self.text, self.pos, "field name")
        return self.text[start : self.pos]

    def _args(self) -> str:
        # The caller consumed "(": read up to the matching ")" (arguments never nest).
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in "(){}":
            self.pos += 1
        if self.pos >= len(self.text) or self.text[self.pos] != ")":
            raise _syntax_error(self.text, self.pos, '")"')
        raw = self.text[start : self.pos].strip()
        self.pos += 1
        return raw

    def parse_list(self, closing: str) -> list[FieldSpec]:
        specs: list[FieldSpec] = []
        while True:
            specs.append(self._item())
            nxt = self._peek()
            if nxt == ",":
                self.pos += 1
                continue
            if nxt == closing:
                return specs
            raise _syntax_error(self.text, self.pos, '","' if closing == "" else f'"," or "{closing}"')

    def _item(self) -> FieldSpec:
        spec = FieldSpec(name=self._name())
        while True:
            nxt = self._peek()
            if nxt == ".":
                self.pos += 1
                modifier = self._name()
                if self._peek() != "(":
                    raise _syntax_error(self.text, self.pos, '"("')
                self.pos += 1
                arg = self._args()
                if modifier not in KNOWN_MODIFIERS:
                    raise GraphError(f"(#100) Unknown field modifier: {modifier}", code=100)
                if modifier == "as":
                    if not arg or any(c not in _NAME_CHARS for c in arg):
                        raise GraphError(f"(#100) Invalid alias: {arg}", code=100)
                    spec.alias = arg
                elif modifier == "limit":
                    if not arg.isdigit():
                        raise GraphError(f"(#100) Param limit must be a non-negative integer, got {arg!r}", code=100)
                    spec.modifiers[modifier] = arg
                else:
                    spec.modifiers[modifier] = arg
            elif nxt == "{":
                if spec.children is not None:
                    raise _syntax_error(self.text, self.pos, '"," or "."')
                self.pos += 1
                spec.children = self.parse_list("}")
                self.pos += 1  # the closing brace
            else:
                return spec


def parse_fields(text: str | None) -> list[FieldSpec] | None:
    """Parse a ``fields=`` value; ``None`` or blank means "default fields" and returns ``None``."""
    if text is None or not text.strip():
        return None
    parser = _Parser(text)
    specs = parser.parse_list("")
    if parser.pos < len(text.rstrip()):
        raise _syntax_error(text, parser.pos, "end of string")
    return specs


def simple_fields(names: list[str]) -> list[FieldSpec]:
    """A flat selection from plain names (used for endpoint default fields)."""
    return [FieldSpec(name=n) for n in names]


def to_text(specs: list[FieldSpec]) -> str:
    """Serialise a selection back to ``fields=`` syntax (used to build nested-edge ``next`` links)."""
    parts: list[str] = []
    for spec in specs:
        text = spec.name
        for name, arg in spec.modifiers.items():
            text += f".{name}({arg})"
        if spec.alias:
            text += f".as({spec.alias})"
        if spec.children is not None:
            text += "{" + to_text(spec.children) + "}"
        parts.append(text)
    return ",".join(parts)
