#!/usr/bin/env python3
"""The language-model corpus: English text from Debian packages, as bytes
(vocabulary 256, no tokenizer), large enough that the experiment's
training (about 20 M bytes a run) passes over it less than once.

Sources (--sources, in this order; all three by default):
  kjv     the King James Bible (public domain), Debian's `bible-kjv-text`,
          printed by its reader `bible` (package `bible-kjv`): `bible -f
          Gen1:1-Rev22:21` gives one verse a line led by its reference
          ("Ge1:1 In the beginning ..."). References are dropped, so the model
          learns prose rather than counting verse numbers; a chunk is a
          chapter: its verses, one a line, then a blank line.
  gcide   the GNU Collaborative International Dictionary of English
          (Webster's 1913 and additions; GPL-2+), Debian's `dict-gcide`: the
          entries of /usr/share/dictd/gcide.dict.dz in the order of their
          offsets (its .index), the dictd metadata entries ("00-...") left
          out; a chunk is consecutive entries of at least 8 KiB.
  jargon  the Jargon File 4.4.7 (public domain), Debian's `jargon-text`
          (/usr/share/doc/jargon-text/jargon.txt.gz); a chunk is consecutive
          paragraphs of at least 8 KiB.
Every source is held out chunk by chunk: chunk n (0-based, in the source's
order) goes to validation when n % 20 == 19, which spreads the 5% held out
over every part of every source. The splits are the sources' train (or
validation) chunks, concatenated in the order above.

usage: corpus.py OUT_DIR [--xz] [--sources kjv,gcide,jargon]
  writes OUT_DIR/train.bin and OUT_DIR/val.bin (raw bytes = uint8 tokens;
  with --xz, train.bin.xz and val.bin.xz) and OUT_DIR/corpus.json (the
  packages, their versions and licenses, and each source's bytes)
"""
import argparse
import gzip
import hashlib
import json
import lzma
import os
import re
import shutil
import subprocess
import sys

WHOLE_TEXT = "Gen1:1-Rev22:21"
HOLD_OUT_EVERY = 20  # chunk n is validation when n % 20 == 19
CHUNK_BYTES = 8192  # the dictionary's and the Jargon File's chunks: at least this
VERSE = re.compile(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$")
GCIDE_DICT = "/usr/share/dictd/gcide.dict.dz"
GCIDE_INDEX = "/usr/share/dictd/gcide.index"
JARGON_TEXT = "/usr/share/doc/jargon-text/jargon.txt.gz"
DICTD_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def package_version(name):
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def need(path, package):
    if not os.path.exists(path):
        sys.exit(f"corpus: {path} is missing; install {package} (scripts/install-deps.sh)")


# ---------------------------------------------------------------- the King James Bible

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


def kjv_chunks():
    return [t.encode("ascii") for t in chapters(read_verses())]


# ---------------------------------------------------------------- GCIDE and the Jargon File

def dictd_number(text):
    """A dictd index number: base 64, most significant digit first."""
    value = 0
    for ch in text:
        value = value * 64 + DICTD_DIGITS.index(ch)
    return value


def dictd_entries(dict_bytes, index_lines):
    """The entries' bytes in the order of their offsets, each once (many
    headwords share an entry), metadata entries ("00-...") left out."""
    spans = set()
    for line in index_lines:
        word, offset, length = line.rstrip("\n").split("\t")[:3]
        if not word.startswith("00-"):
            spans.add((dictd_number(offset), dictd_number(length)))
    return [dict_bytes[o:o + n] for o, n in sorted(spans)]


def group(pieces, least=CHUNK_BYTES):
    """Consecutive pieces joined into chunks of at least `least` bytes (the
    last may be shorter)."""
    chunks, current, size = [], [], 0
    for piece in pieces:
        current.append(piece)
        size += len(piece)
        if size >= least:
            chunks.append(b"".join(current))
            current, size = [], 0
    if current:
        chunks.append(b"".join(current))
    return chunks


def gcide_chunks():
    need(GCIDE_DICT, "dict-gcide")
    with gzip.open(GCIDE_DICT) as f:  # dictzip is gzip with random access
        data = f.read()
    with open(GCIDE_INDEX, encoding="utf-8") as f:
        entries = dictd_entries(data, f)
    return group([e if e.endswith(b"\n") else e + b"\n" for e in entries])


def paragraphs(text):
    """Blank-line separated paragraphs, each ending with its blank line."""
    return [p.strip(b"\n") + b"\n\n" for p in re.split(rb"\n\s*\n", text) if p.strip()]


def jargon_chunks():
    need(JARGON_TEXT, "jargon-text")
    with gzip.open(JARGON_TEXT) as f:
        return group(paragraphs(f.read()))


SOURCES = {
    "kjv": {"read": kjv_chunks, "packages": ("bible-kjv-text", "bible-kjv"),
            "title": "King James Bible (Authorized Version, 1611)", "license": "public domain",
            "source": f"bible -f {WHOLE_TEXT} (references dropped; verses one a line, a blank "
                      "line after each chapter)", "chunk": "a chapter"},
    "gcide": {"read": gcide_chunks, "packages": ("dict-gcide",),
              "title": "GNU Collaborative International Dictionary of English (Webster's 1913 "
                       "and additions)", "license": "GPL-2+",
              "source": f"{GCIDE_DICT}, entries in offset order, metadata entries dropped",
              "chunk": f"consecutive entries, at least {CHUNK_BYTES} bytes"},
    "jargon": {"read": jargon_chunks, "packages": ("jargon-text",),
               "title": "The Jargon File 4.4.7", "license": "public domain",
               "source": JARGON_TEXT, "chunk": f"consecutive paragraphs, at least {CHUNK_BYTES} "
                                               "bytes"},
}


def split(chunks):
    """(train bytes, validation bytes): every 20th chunk held out."""
    val = [t for n, t in enumerate(chunks) if n % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1]
    train = [t for n, t in enumerate(chunks) if n % HOLD_OUT_EVERY != HOLD_OUT_EVERY - 1]
    return b"".join(train), b"".join(val)


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


def build(names):
    """(train bytes, validation bytes, per-source provenance)."""
    trains, vals, info = [], [], {}
    for name in names:
        src = SOURCES[name]
        chunks = src["read"]()
        train, val = split(chunks)
        trains.append(train)
        vals.append(val)
        info[name] = {"title": src["title"], "license": src["license"],
                      "packages": {p: package_version(p) for p in src["packages"]},
                      "source": src["source"], "chunk": src["chunk"], "chunks": len(chunks),
                      "train_bytes": len(train), "val_bytes": len(val)}
    return b"".join(trains), b"".join(vals), info


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--xz", action="store_true", help="write NAME.bin.xz (for the carry)")
    parser.add_argument("--sources", default=",".join(SOURCES),
                        help="comma list of " + ", ".join(SOURCES))
    args = parser.parse_args()
    names = args.sources.split(",")
    unknown = [n for n in names if n not in SOURCES]
    if unknown or not names:
        parser.error(f"unknown source(s) {unknown}; sources: {', '.join(SOURCES)}")

    train, val, sources = build(names)
    os.makedirs(args.out_dir, exist_ok=True)
    files = {}
    for name, data in (("train", train), ("val", val)):
        file = name + ".bin" + (".xz" if args.xz else "")
        payload = lzma.compress(data, preset=9) if args.xz else data
        write_atomic(os.path.join(args.out_dir, file), payload)
        files[name] = {"file": file, "bytes": len(data), "stored_bytes": len(payload),
                       "sha256": hashlib.sha256(data).hexdigest()}
    info = {
        "corpus": " + ".join(SOURCES[n]["title"] for n in names),
        "sources": sources,
        "tokens": "bytes, vocabulary 256",
        "split": f"per source, chunk n (0-based, in the source's order) is validation when "
                 f"n % {HOLD_OUT_EVERY} == {HOLD_OUT_EVERY - 1}; the splits concatenate the "
                 f"sources in the order {', '.join(names)}",
        "files": files,
    }
    write_atomic(os.path.join(args.out_dir, "corpus.json"),
                 (json.dumps(info, indent=2) + "\n").encode())
    print(f"corpus: {', '.join(names)}; train {len(train)} bytes, validation {len(val)} "
          f"bytes -> {args.out_dir}")


if __name__ == "__main__":
    main()
