"""sieve.BlockMask: built from numpy, packed bits, mask files and at
random; the packing is the runtime's (docs/mask-format.md)."""

import json
import pickle

import numpy as np
import pytest

import sieve


def test_from_numpy_round_trip():
    tiles = np.random.default_rng(31).random((3, 5, 7)) < 0.4
    mask = sieve.BlockMask(tiles, block_q=64, block_k=32)
    assert (mask.heads, mask.query_blocks, mask.key_blocks) == (3, 5, 7)
    assert (mask.block_q, mask.block_k) == (64, 32)
    assert np.array_equal(mask.to_numpy(), tiles)
    assert mask.count_kept() == tiles.sum()
    assert mask.density == pytest.approx(tiles.mean())


def test_packing_is_lsb_first_row_major():
    tiles = np.zeros((2, 2, 3), dtype=bool)
    tiles[0, 0, 1] = True   # tile 1: bit 1 of byte 0
    tiles[1, 1, 2] = True   # tile 11: bit 3 of byte 1
    mask = sieve.BlockMask(tiles, 16, 16)
    assert mask.bits == bytes([0b10, 0b1000])
    again = sieve.BlockMask.from_bits(2, 2, 3, 16, 16, mask.bits)
    assert again == mask and hash(again) == hash(mask)


def test_integer_tables_are_accepted():
    tiles = np.array([[[1, 0], [0, 1]]], dtype=np.uint8)
    assert np.array_equal(sieve.BlockMask(tiles, 8, 8).to_numpy(), tiles.astype(bool))


def test_equality_and_hash():
    a = sieve.BlockMask.random(2, 3, 3, 32, 32, 0.5, seed=1)
    b = sieve.BlockMask.random(2, 3, 3, 32, 32, 0.5, seed=1)
    c = sieve.BlockMask.random(2, 3, 3, 32, 32, 0.5, seed=2)
    d = sieve.BlockMask.from_bits(2, 3, 3, 32, 16, a.bits)
    assert a == b and hash(a) == hash(b)
    assert a != c and a != d and a != "mask"
    assert len({a, b, c, d}) == 3


def test_random_keeps_the_diagonal():
    mask = sieve.BlockMask.random(4, 6, 6, 32, 32, 0.0, seed=3, keep_diagonal=True)
    assert np.array_equal(mask.to_numpy(), np.broadcast_to(np.eye(6, dtype=bool), (4, 6, 6)))
    assert sieve.BlockMask.random(4, 6, 6, 32, 32, 0.0, keep_diagonal=False).count_kept() == 0


def test_pickles():
    mask = sieve.BlockMask.random(2, 2, 2, 32, 32, 0.5, seed=4)
    assert pickle.loads(pickle.dumps(mask)) == mask


def test_mask_file_written_by_numpy_loads(tmp_path):
    """The format's own example: numpy writes the table, json the sidecar."""
    tiles = np.random.default_rng(5).random((4, 8, 8)) < 0.3
    np.save(tmp_path / "m.npy", tiles)
    (tmp_path / "m.json").write_text(json.dumps(
        {"format": "sieve-block-mask", "version": 1, "block_q": 64, "block_k": 64,
         "seq_q": 512, "seq_k": 500}))
    mask = sieve.BlockMask.load(tmp_path / "m.npy")
    assert np.array_equal(mask.to_numpy(), tiles)
    assert (mask.block_q, mask.block_k) == (64, 64)


def test_save_and_load_layers(tmp_path):
    mask = sieve.BlockMask.random(3, 4, 5, 16, 32, 0.5, seed=6)
    mask.save(tmp_path / "saved.npy", seq_q=64, seq_k=160)
    assert np.array_equal(np.load(tmp_path / "saved.npy"), mask.to_numpy())
    sidecar = json.loads((tmp_path / "saved.json").read_text())
    assert sidecar["block_q"] == 16 and sidecar["seq_k"] == 160
    assert sieve.BlockMask.load(tmp_path / "saved.npy") == mask

    stack = np.random.default_rng(7).random((2, 3, 4, 5)) < 0.5
    np.save(tmp_path / "stack.npy", stack)
    (tmp_path / "stack.json").write_text(json.dumps(
        {"format": "sieve-block-mask", "version": 1, "block_q": 16, "block_k": 16}))
    layers = sieve.BlockMask.load_layers(tmp_path / "stack.npy")
    assert [m.to_numpy().tolist() for m in layers] == stack.tolist()
    assert sieve.BlockMask.load(tmp_path / "stack.npy", layer=1) == layers[1]


def test_malformed_masks(tmp_path):
    with pytest.raises(sieve.MalformedMaskError, match=r"expected \[heads, query_blocks"):
        sieve.BlockMask(np.ones((4, 4), dtype=bool), 16, 16)
    with pytest.raises(sieve.MalformedMaskError, match="expected bool"):
        sieve.BlockMask(np.full((1, 2, 2), 2, dtype=np.uint8), 16, 16)
    with pytest.raises(sieve.MalformedMaskError, match="expected bool"):
        sieve.BlockMask(np.ones((1, 2, 2), dtype=np.float32), 16, 16)
    with pytest.raises(sieve.Error):
        sieve.BlockMask(np.ones((1, 2, 2), dtype=bool), 0, 16)
    with pytest.raises(sieve.Error, match="bytes"):
        sieve.BlockMask.from_bits(1, 3, 3, 16, 16, b"\xff")  # 9 tiles need 2 bytes
    with pytest.raises(sieve.Error, match="padding"):
        sieve.BlockMask.from_bits(1, 3, 3, 16, 16, b"\xff\xff")  # padding bits set


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(sieve.IoError) as caught:
        sieve.BlockMask.load(tmp_path / "absent.npy")
    assert isinstance(caught.value, OSError)
    np.save(tmp_path / "bad.npy", np.ones((1, 2, 2), dtype=bool))
    (tmp_path / "bad.json").write_text(json.dumps(
        {"format": "sieve-block-mask", "version": 1, "blockq": 16, "block_k": 16}))
    with pytest.raises(sieve.Error, match="blockq"):
        sieve.BlockMask.load(tmp_path / "bad.npy")
    np.save(tmp_path / "f.npy", np.ones((1, 2, 2), dtype=np.float32))
    (tmp_path / "f.json").write_text(json.dumps(
        {"format": "sieve-block-mask", "version": 1, "block_q": 16, "block_k": 16}))
    with pytest.raises(sieve.MalformedMaskError):
        sieve.BlockMask.load(tmp_path / "f.npy")
