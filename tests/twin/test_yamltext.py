"""User YAML is a plain tree no larger than its text: no anchors or aliases, bounded nesting."""

from __future__ import annotations

import pytest

from twin import yamltext
from twin.errors import InvalidSpec


def laughs(levels: int = 9) -> str:
    """The 'billion laughs': each level is nine aliases of the one above (9**9 strings from ~1 KB)."""
    lines = ["name: laughs", 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_a_plain_document_loads() -> None:
    assert yamltext.load("a: 1\nb: [x, {c: 2.5}]\n", "w") == {"a": 1, "b": ["x", {"c": 2.5}]}


@pytest.mark.parametrize("text", [laughs(), "a: &x 1\nb: *x\n", "a: &x 1\n", "base: &b {x: 1}\nc: {<<: *b}\n"])
def test_anchors_and_aliases_are_refused_with_the_line(text: str) -> None:
    with pytest.raises(InvalidSpec, match=r"^w: YAML anchors and aliases \(&, \*\) are not allowed \(line \d+\)"):
        yamltext.load(text, "w")


@pytest.mark.parametrize("text", ["a: " + "[" * 20_000 + "]" * 20_000, "- " * 40 + "1\n",
                                  "a: " + "{b: " * 33 + "1" + "}" * 33])
def test_nesting_deeper_than_the_bound_is_refused(text: str) -> None:
    with pytest.raises(InvalidSpec, match=f"^w: nested deeper than {yamltext.MAX_DEPTH} levels"):
        yamltext.load(text, "w")


def test_nesting_up_to_the_bound_loads() -> None:
    assert yamltext.load("- " * yamltext.MAX_DEPTH + "1\n", "w") is not None
