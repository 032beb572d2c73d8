"""The grammar's words, loaded once from ``lexicon.yaml``: adding a word is a data change, not a code change."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from kpi.config import Strict, read_yaml

LEXICON = Path(__file__).with_name("lexicon.yaml")


class _Scopes(Strict):
    me: list[str]
    my_team: list[str]
    org: list[str]


class _Lexicon(Strict):
    help: list[str]
    list: list[str]
    ranking: list[str]
    scope_joiners: list[str]
    scopes: _Scopes
    examples: list[str]


@dataclass(frozen=True)
class Lexicon:
    help: frozenset[str]
    list: frozenset[str]
    ranking: frozenset[str]
    scope_joiners: frozenset[str]
    me: frozenset[str]
    my_team: frozenset[str]
    org: frozenset[str]
    examples: tuple[str, ...]

    @property
    def scope_words(self) -> frozenset[str]:
        """Every word that names a scope by itself ("my", "team", "org"...)."""
        return self.me | self.my_team | self.org


@functools.cache
def lexicon() -> Lexicon:
    spec = _Lexicon.model_validate(read_yaml(LEXICON))
    return Lexicon(
        help=frozenset(spec.help),
        list=frozenset(spec.list),
        ranking=frozenset(spec.ranking),
        scope_joiners=frozenset(spec.scope_joiners),
        me=frozenset(spec.scopes.me),
        my_team=frozenset(spec.scopes.my_team),
        org=frozenset(spec.scopes.org),
        examples=tuple(spec.examples),
    )
