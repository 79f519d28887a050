#!/usr/bin/env python3
"""Single English sentences from Debian's fortunes-min package, split into a
calibration set and a held-out set (every 5th sentence held out).

fortunes-min (BSD fortune-mod data: /usr/share/games/fortunes/{fortunes,
literature,riddles}) holds short quotes separated by lines of "%". Each quote
is joined into one line, attributions ("-- Author") and quoted dialogue
markers dropped, split at sentence ends, and kept when it is plain ASCII,
starts with a capital letter, ends with . ! or ?, and has 6 to 40 words.
Duplicates are dropped; the order is the files' own, so the split is
deterministic.

usage: extract-corpus.py OUT_DIR  (writes calibrate.txt and heldout.txt)
"""
import os
import re
import sys

FILES = ["fortunes", "literature", "riddles"]
ROOT = "/usr/share/games/fortunes"


def quotes(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    for q in text.split("\n%\n"):
        lines = []
        for line in q.splitlines():
            s = line.strip()
            if s == "%" or re.match(r"^(--|-- |~|\()", s):
                break  # attribution or source: the quote ended
            lines.append(s)
        yield " ".join(lines)


def sentences(quote):
    quote = re.sub(r"\s+", " ", quote).strip()
    for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])", quote):
        s = s.strip().strip("\"'").strip()
        if not s or not s.isascii():
            continue
        if not re.match(r"^[A-Z]", s) or not re.search(r"[.!?]$", s):
            continue
        if re.search(r"[:;]$|\t|_{2,}|\|", s):
            continue
        n = len(s.split())
        if 6 <= n <= 40:
            yield s


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seen, all_ = set(), []
    for name in FILES:
        path = os.path.join(ROOT, name)
        if not os.path.exists(path):
            sys.exit(f"extract-corpus: {path} missing; install fortunes-min (scripts/install-deps.sh)")
        for q in quotes(path):
            for s in sentences(q):
                if s.lower() not in seen:
                    seen.add(s.lower())
                    all_.append(s)
    held = [s for i, s in enumerate(all_) if i % 5 == 4]
    cal = [s for i, s in enumerate(all_) if i % 5 != 4]
    for name, rows in (("calibrate.txt", cal), ("heldout.txt", held)):
        with open(os.path.join(out, name), "w") as f:
            f.write("\n".join(rows) + "\n")
    print(f"extract-corpus: {len(all_)} sentences: {len(cal)} to calibrate, {len(held)} held out")


if __name__ == "__main__":
    main()
