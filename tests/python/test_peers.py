"""bench/peers/compare.py on the CPU: its self-test (masks, pair counts,
shapes, the table math, without torch or a GPU), and a smoke run of the
forward comparison on sieve's CPU backend (through the C API) against
PyTorch's SDPA and FlexAttention, on the rows the peer tables gained:
grouped query heads, a query chunk against more keys (bottom-right
causal) and attention-pruning-shaped masks. The GPU run is the same
script on the lent GPU (bench/peers/README.md); here every row's output
is checked against the float32 masked reference, not timed."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPARE = os.path.join(ROOT, "bench", "peers", "compare.py")


def test_the_self_test_passes():
    run = subprocess.run([sys.executable, COMPARE, "--self-test"], capture_output=True,
                         text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert " 0 failed" in run.stdout, run.stdout[-2000:]


def test_gqa_chunk_and_pruned_rows_match_the_reference_on_the_cpu(tmp_path):
    pytest.importorskip("torch")
    if not os.environ.get("SIEVE_LIB"):
        pytest.fail("SIEVE_LIB names no libsieve_c.so (ctest sets it)")
    out = tmp_path / "peers"
    run = subprocess.run(
        [sys.executable, COMPARE, "--device", "cpu", "--shapes", "1x4/2x256x64,1x4/2x128:512x64",
         "--masks", "pruned", "--densities", "0.5", "--dtypes", "f32", "--causal", "0,1",
         "--out", str(out)], capture_output=True, text=True, timeout=280)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    with open(out / "results.json") as f:
        rows = json.load(f)["rows"]
    got = {(r["shape"], r["causal"]) for r in rows}
    assert got == {(s, c) for s in ("1x4/2x256x64", "1x4/2x128:512x64") for c in (False, True)}
    for r in rows:
        assert r["Hkv"] == 2 and r["mask"] == "pruned", r
        assert r["check"]["status"] == "ok", r["check"]
        # sieve and Flex were both checked against the masked SDPA reference.
        assert r["check"]["ref"] == "sdpa" and {"sieve", "flex"} <= set(r["check"]["diffs"])
        assert "ms" in r["sieve"] and "ms" in r["flex"] and "ms" in r["sdpa"], r


@pytest.mark.parametrize("seq,seq_k,causal", [(300, 300, False), (300, 300, True),
                                              (128, 700, True), (1, 513, True), (1, 513, False)])
def test_flex_block_mask_from_tiles_is_create_block_masks(seq, seq_k, causal):
    """The peers' Flex BlockMask, built from the tile table, lists the same
    partial and full blocks as create_block_mask evaluating the mask_mod
    over every pair (random tiles, ragged edges, bottom-right causal)."""
    torch = pytest.importorskip("torch")
    sys.path.insert(0, os.path.join(ROOT, "bench", "peers"))
    import masks
    import torch_peers
    heads = 3
    tiles = masks.make_mask("random", heads, seq, 0.5, causal, seed=5, seq_k=seq_k)
    flex = torch_peers.Flex(heads, seq, causal, device="cpu", seq_k=seq_k)
    flex.set_mask(tiles)
    got = flex.block_mask
    want = flex._create_block_mask(flex.mask_mod, B=None, H=heads, Q_LEN=seq, KV_LEN=seq_k,
                                   device="cpu", BLOCK_SIZE=masks.BLOCK)

    def blocks(num, idx):
        """{(head, q block): sorted kv blocks} of a BlockMask's lists."""
        if num is None:
            return {}
        return {(h, q): sorted(idx[0, h, q, :num[0, h, q]].tolist())
                for h in range(num.shape[1]) for q in range(num.shape[2])}

    assert blocks(got.kv_num_blocks, got.kv_indices) == blocks(want.kv_num_blocks,
                                                               want.kv_indices)
    assert blocks(got.full_kv_num_blocks, got.full_kv_indices) == \
        blocks(want.full_kv_num_blocks, want.full_kv_indices)
    assert got.seq_lengths == (seq, seq_k)
