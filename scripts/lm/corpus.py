#!/usr/bin/env python3
"""The language-model corpus: the King James Bible from Debian's
`bible-kjv-text` package, as bytes (vocabulary 256, no tokenizer).

The package stores the text in its own compressed format
(/usr/lib/bible.data); its reader `bible` (package `bible-kjv`) prints it:
`bible -f Gen1:1-Rev22:21` gives one verse a line, led by its reference
("Ge1:1 In the beginning ..."). References are dropped, so the model learns
prose rather than counting verse numbers; each chapter is its verses, one a
line, followed by a blank line. Chapters are held out whole: chapter n
(0-based, in canonical order, 1189 in all) goes to validation when
n % 20 == 19, which spreads the 5% held out over every part of the book.

usage: corpus.py OUT_DIR [--xz]
  writes OUT_DIR/train.bin and OUT_DIR/val.bin (raw bytes = uint8 tokens;
  with --xz, train.bin.xz and val.bin.xz) and OUT_DIR/corpus.json
"""
import argparse
import hashlib
import json
import lzma
import os
import re
import shutil
import subprocess
import sys

PACKAGES = ("bible-kjv-text", "bible-kjv")  # the text, and its reader
WHOLE_TEXT = "Gen1:1-Rev22:21"
HOLD_OUT_EVERY = 20  # chapter n is validation when n % 20 == 19
VERSE = re.compile(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$")


def package_version(name):
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def read_verses():
    """[(book, chapter, text)] in canonical order, from the `bible` reader."""
    if shutil.which("bible") is None:
        sys.exit("corpus: the `bible` program is missing; install bible-kjv and bible-kjv-text "
                 "(scripts/install-deps.sh)")
    # -f turns pretty-printing off: one verse a line, with its reference.
    out = subprocess.run(["bible", "-f", WHOLE_TEXT], check=True, capture_output=True,
                         cwd="/", text=True, encoding="ascii").stdout
    verses = []
    for line in out.splitlines():
        m = VERSE.match(line)
        if m is None:
            sys.exit(f"corpus: unexpected line from `bible`: {line[:80]!r}")
        verses.append((m.group(1), int(m.group(2)), m.group(4).strip()))
    return verses


def chapters(verses):
    """The text of each chapter: its verses, one a line, then a blank line."""
    texts, current, key = [], [], None
    for book, chapter, text in verses:
        if (book, chapter) != key and current:
            texts.append("\n".join(current) + "\n\n")
            current = []
        key = book, chapter
        current.append(text)
    if current:
        texts.append("\n".join(current) + "\n\n")
    return texts


def split(texts):
    """(train bytes, validation bytes): every 20th chapter held out."""
    val = [t for n, t in enumerate(texts) if n % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1]
    train = [t for n, t in enumerate(texts) if n % HOLD_OUT_EVERY != HOLD_OUT_EVERY - 1]
    return "".join(train).encode("ascii"), "".join(val).encode("ascii")


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def load_split(directory, name):
    """The tokens of `name` ("train" or "val") as a uint8 array, from
    NAME.bin or NAME.bin.xz in `directory`."""
    import numpy as np  # only here: extracting the corpus needs no numpy

    path = os.path.join(directory, name + ".bin")
    if os.path.exists(path):
        return np.fromfile(path, dtype=np.uint8)
    if os.path.exists(path + ".xz"):
        with lzma.open(path + ".xz") as f:
            return np.frombuffer(f.read(), dtype=np.uint8)
    raise FileNotFoundError(f"{path}[.xz] is missing; run scripts/lm/corpus.py {directory}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--xz", action="store_true", help="write NAME.bin.xz (for the carry)")
    args = parser.parse_args()

    texts = chapters(read_verses())
    train, val = split(texts)
    os.makedirs(args.out_dir, exist_ok=True)
    files = {}
    for name, data in (("train", train), ("val", val)):
        file = name + ".bin" + (".xz" if args.xz else "")
        payload = lzma.compress(data, preset=9) if args.xz else data
        write_atomic(os.path.join(args.out_dir, file), payload)
        files[name] = {"file": file, "bytes": len(data), "stored_bytes": len(payload),
                       "sha256": hashlib.sha256(data).hexdigest()}
    info = {
        "corpus": "King James Bible (Authorized Version, 1611; public domain)",
        "packages": {p: package_version(p) for p in PACKAGES},
        "source": f"bible -f {WHOLE_TEXT} (references dropped; verses one a line, "
                  "a blank line after each chapter)",
        "tokens": "bytes (ASCII), vocabulary 256",
        "chapters": len(texts),
        "split": f"chapter n (0-based, canonical order) is validation when "
                 f"n % {HOLD_OUT_EVERY} == {HOLD_OUT_EVERY - 1}",
        "validation_chapters": len(texts) // HOLD_OUT_EVERY,
        "files": files,
    }
    write_atomic(os.path.join(args.out_dir, "corpus.json"),
                 (json.dumps(info, indent=2) + "\n").encode())
    print(f"corpus: {len(texts)} chapters; train {len(train)} bytes, validation {len(val)} "
          f"bytes -> {args.out_dir}")


if __name__ == "__main__":
    main()
