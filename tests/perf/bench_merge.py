"""Line merge beside `git merge-file`: how often `linemerge.merge3` gives git's answer.

`python -m tests.perf.bench_merge [cases] [seed]` prints the table; `run()`
returns its rows for `make bench`. Each case is a random three-way merge of
a short text (up to 10 lines over a 4-line vocabulary, with or without a final
newline) edited on both sides as git users do: 1-3 replacements, insertions
or deletions per side, sometimes the same edit on both sides, or theirs
building on ours. Small vocabularies make edits collide and repeat lines,
which is where line merges disagree.

- agreement: both clean or both conflicting;
- identical text: of the cases both merge cleanly, the share with the same text;
- stricter: we conflict where git merges (by design only on ambiguous merges,
  see `openbook/store/linemerge.py`); looser: we merge where git conflicts.
"""

from __future__ import annotations

import random
import sys

from openbook.store.linemerge import merge3
from tests.store.test_linemerge_git import NEW, VOCAB, apply, git_merge_file, text

CASES = 2000
SEED = 7
Row = tuple[str, str, str]


def edits(rng: random.Random) -> list[tuple[int, int, list[bytes]]]:
    return [
        (rng.randint(0, 10), rng.randint(0, 2), [rng.choice(VOCAB + NEW) for _ in range(rng.randint(0, 2))])
        for _ in range(rng.randint(1, 3))
    ]


def case(rng: random.Random) -> tuple[bytes, bytes, bytes]:
    base = [rng.choice(VOCAB) for _ in range(rng.randint(0, 10))]
    ours = edits(rng)
    theirs = rng.choice([ours, ours + edits(rng), ours[:1] + edits(rng), edits(rng), edits(rng)])
    newline = rng.random() < 0.8
    return (
        text(base, newline),
        text(apply(base, ours), newline and rng.random() < 0.9),
        text(apply(base, theirs), newline and rng.random() < 0.9),
    )


def run(cases: int = CASES, seed: int = SEED) -> list[Row]:
    rng = random.Random(seed)
    agree = both_clean = same_text = stricter = looser = git_clean = 0
    for _ in range(cases):
        base, ours, theirs = case(rng)
        git, mine = git_merge_file(base, ours, theirs), merge3(base, ours, theirs)
        git_clean += git is not None
        agree += (git is None) == (mine is None)
        stricter += mine is None and git is not None
        looser += mine is not None and git is None
        if mine is not None and git is not None:
            both_clean += 1
            same_text += mine == git

    def pct(n: int, of: int = cases) -> str:
        return f"{100 * n / of:.1f}%" if of else "-"

    return [
        ("agreement on clean vs conflict", pct(agree), f"of {cases:,} cases ({pct(git_clean)} clean in git)"),
        ("identical merged text", pct(same_text, both_clean), f"of {both_clean:,} cases both merge cleanly"),
        ("stricter (we conflict, git merges)", pct(stricter), "ambiguous merges only"),
        ("looser (we merge, git conflicts)", pct(looser), "must stay 0"),
    ]


def print_rows(rows: list[Row]) -> None:
    print("\nLine merge (openbook.store.linemerge) vs git merge-file on random three-way merges")
    width = max(len(r[0]) for r in rows)
    for name, figure, note in rows:
        print(f"{name:<{width}} {figure:>7}  {note}")
    sys.stdout.flush()


if __name__ == "__main__":
    print_rows(run(*map(int, sys.argv[1:3])))
