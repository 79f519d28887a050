#!/usr/bin/env python3
"""Labelled retrieval tasks for the pruning tables, from Debian packages that
ship their data offline (scripts/install-deps.sh installs them):

- bible: the King James Bible (bible-kjv-text, read with bible-kjv's
  `bible`, as scripts/lm/corpus.py does). Each chapter whose halves both
  hold at least MIN_HALF_WORDS words is split at the verse nearest its
  middle word; the query is the first half, its document the second
  (all-MiniLM-L6-v2 cuts each to its 256-token limit, so most inputs run
  the whole grid). Exact labels: a query's own chapter.
- wordnet: WordNet 3.0 (wordnet-base, /usr/share/wordnet/data.*). Each
  synset with a usage example gives a pair: the first example is the
  query, the synset's definition (the gloss before its examples) the
  document. Short inputs.

Splits are disjoint: chapter or synset n (in file order) calibrates when
n % 5 == 0, the rest is the test split. calibrate.txt holds the
calibration split's queries and documents, one a line (for `sieve
calibrate`); test.tsv holds the test pairs, query TAB document, in a
seeded shuffled order, so the first N lines (`sieve evaluate --limit N`)
are a sample spread over the whole source.

usage: retrieval-corpus.py {bible,wordnet} OUT_DIR
"""
import os
import random
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lm"))

CALIBRATE_EVERY = 5
MIN_HALF_WORDS = 200  # ~260 word pieces: the halves fill MiniLM's 256 tokens
SHUFFLE_SEED = 25
WORDNET = "/usr/share/wordnet"


def bible_pairs():
    import corpus  # scripts/lm/corpus.py: the verses from the `bible` reader

    chapters, current, key = [], [], None
    for book, chapter, text in corpus.read_verses():
        if (book, chapter) != key and current:
            chapters.append(current)
            current = []
        key = book, chapter
        current.append(text)
    chapters.append(current)
    pairs = []
    for verses in chapters:
        words = [len(v.split()) for v in verses]
        total, run, cut = sum(words), 0, 0
        for i, w in enumerate(words):  # the verse boundary nearest the middle word
            if abs(run + w - total / 2) < abs(run - total / 2):
                run += w
                cut = i + 1
            else:
                break
        first, second = " ".join(verses[:cut]), " ".join(verses[cut:])
        if len(first.split()) >= MIN_HALF_WORDS and len(second.split()) >= MIN_HALF_WORDS:
            pairs.append((first, second))
    return pairs


def wordnet_pairs():
    pairs = []
    for pos in ("noun", "verb", "adj", "adv"):
        path = os.path.join(WORDNET, f"data.{pos}")
        if not os.path.exists(path):
            sys.exit(f"retrieval-corpus: {path} missing; install wordnet-base "
                     "(scripts/install-deps.sh)")
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  ") or "|" not in line:
                    continue  # the license header
                gloss = line.split("|", 1)[1].strip()
                examples = re.findall(r'"([^"]+)"', gloss)
                definition = gloss.split('"', 1)[0].strip().rstrip(";").strip()
                if examples and definition and len(examples[0].split()) >= 3:
                    pairs.append((examples[0].strip(), definition))
    return pairs


def clean(text):
    return re.sub(r"\s+", " ", text).strip()


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("bible", "wordnet"):
        sys.exit(__doc__.strip().splitlines()[-1])
    task, out = sys.argv[1], sys.argv[2]
    pairs = [(clean(q), clean(d)) for q, d in (bible_pairs() if task == "bible"
                                                   else wordnet_pairs())]
    seen, unique = set(), []
    for q, d in pairs:  # a query or document twice would make labels ambiguous
        if q.lower() not in seen and d.lower() not in seen:
            seen.update((q.lower(), d.lower()))
            unique.append((q, d))
    calibrate = [p for n, p in enumerate(unique) if n % CALIBRATE_EVERY == 0]
    test = [p for n, p in enumerate(unique) if n % CALIBRATE_EVERY != 0]
    random.Random(SHUFFLE_SEED).shuffle(test)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "calibrate.txt"), "w") as f:
        f.write("".join(f"{q}\n{d}\n" for q, d in calibrate))
    with open(os.path.join(out, "test.tsv"), "w") as f:
        f.write("".join(f"{q}\t{d}\n" for q, d in test))
    print(f"retrieval-corpus: {task}: {len(unique)} pairs: {len(calibrate)} calibrate "
          f"({2 * len(calibrate)} texts), {len(test)} test")


if __name__ == "__main__":
    main()
