"""The grammar's words, loaded once from ``lexicon.yaml``: adding a word is a data change, not a code change."""

from __future__ import annotations

import functools
from pathlib import Path

from kpi.config import Strict, read_yaml

LEXICON = Path(__file__).with_name("lexicon.yaml")


class Scopes(Strict):
    """Words that name a scope by themselves, by what they mean."""

    me: frozenset[str]
    my_team: frozenset[str]
    org: frozenset[str]

    @property
    def words(self) -> frozenset[str]:
        return self.me | self.my_team | self.org


class Lexicon(Strict):
    help: frozenset[str]
    catalog: frozenset[str]
    ranking: frozenset[str]
    scope_joiners: frozenset[str]
    scopes: Scopes
    examples: tuple[str, ...]


@functools.cache
def lexicon() -> Lexicon:
    return Lexicon.model_validate(read_yaml(LEXICON))
