"""sieve.BlockMask: which (query block, key block) tiles each head computes."""

from . import _checks, _errors, _sieve


class BlockMask:
    """An immutable [heads, query_blocks, key_blocks] table of kept tiles and
    the tile size (block_q query rows by block_k keys).

    Build one from a numpy bool array (`BlockMask(tiles, block_q, block_k)`),
    from packed bits (`from_bits`), from a mask file (`load`, see
    docs/mask-format.md) or at random (`random`). Masks are hashable and
    compare by value, so they can key caches; validation is the C++
    runtime's, as for the CLI and the C API.
    """

    __slots__ = ("_native", "_key")

    def __init__(self, tiles, block_q, block_k):
        import numpy as np

        table = np.asarray(tiles)
        if table.ndim != 3:
            raise _errors.MalformedMaskError(
                f"mask tiles have shape {list(table.shape)}; expected [heads, query_blocks, "
                "key_blocks]")
        if table.dtype != np.bool_:
            if table.dtype.kind not in "iu" or ((table != 0) & (table != 1)).any():
                raise _errors.MalformedMaskError(
                    f"mask tiles are {table.dtype}; expected bool (or integers 0 and 1)")
            table = table != 0
        bits = np.packbits(table.ravel(), bitorder="little").tobytes()
        self._set(_sieve.Mask.from_bits(*table.shape, _checks.integer("block_q", block_q),
                                        _checks.integer("block_k", block_k), bits))

    @classmethod
    def from_bits(cls, heads, query_blocks, key_blocks, block_q, block_k, bits):
        """From packed bits: tile n = (h * query_blocks + i) * key_blocks + j
        is bit n % 8 of byte n / 8; exactly ceil(tiles / 8) bytes."""
        sizes = _integers(heads=heads, query_blocks=query_blocks, key_blocks=key_blocks,
                          block_q=block_q, block_k=block_k)
        return cls._wrap(_sieve.Mask.from_bits(*sizes, bytes(bits)))

    @classmethod
    def load(cls, path, layer=0):
        """One layer of a mask file (NAME.npy with its NAME.json sidecar)."""
        native, _ = _sieve.Mask.read(str(path), _checks.integer("layer", layer))
        return cls._wrap(native)

    @classmethod
    def load_layers(cls, path):
        """Every layer of a mask file, as a list."""
        natives, _ = _sieve.Mask.read_stack(str(path))
        return [cls._wrap(n) for n in natives]

    @classmethod
    def random(cls, heads, query_blocks, key_blocks, block_q, block_k, density, seed=0,
               keep_diagonal=True):
        """Each tile kept with probability `density`, per head; with
        `keep_diagonal` the tiles crossing the diagonal are always kept."""
        sizes = _integers(heads=heads, query_blocks=query_blocks, key_blocks=key_blocks,
                          block_q=block_q, block_k=block_k)
        return cls._wrap(_sieve.Mask.random(*sizes, float(density),
                                            _checks.integer("seed", seed, unsigned=True),
                                            _checks.flag("keep_diagonal", keep_diagonal)))

    def save(self, path, seq_q=None, seq_k=None):
        """Writes NAME.npy and its sidecar NAME.json (docs/mask-format.md)."""
        self._native.save(str(path), None if seq_q is None else _checks.integer("seq_q", seq_q),
                          None if seq_k is None else _checks.integer("seq_k", seq_k))

    def to_numpy(self):
        """The table as a bool array [heads, query_blocks, key_blocks]."""
        import numpy as np

        flat = np.unpackbits(np.frombuffer(self.bits, dtype=np.uint8), bitorder="little")
        return flat[: self.num_tiles].astype(bool).reshape(self.heads, self.query_blocks,
                                                            self.key_blocks)

    def check_covers(self, heads_q, seq_q, seq_k):
        """Raises ShapeMismatchError unless this mask fits that problem."""
        self._native.check_covers(*_integers(heads_q=heads_q, seq_q=seq_q, seq_k=seq_k))

    heads = property(lambda self: self._key[0])
    query_blocks = property(lambda self: self._key[1])
    key_blocks = property(lambda self: self._key[2])
    block_q = property(lambda self: self._key[3])
    block_k = property(lambda self: self._key[4])
    bits = property(lambda self: self._key[5], doc="the packed bits (bytes)")
    num_tiles = property(lambda self: self.heads * self.query_blocks * self.key_blocks)

    def count_kept(self):
        return self._native.count_kept()

    @property
    def density(self):
        return self.count_kept() / self.num_tiles

    def __eq__(self, other):
        return isinstance(other, BlockMask) and self._key == other._key

    def __hash__(self):
        # bytes cache their hash: after the first call this costs no pass
        # over the bits, so masks key the kernel memo cheaply.
        return hash(self._key)

    def __repr__(self):
        return (f"BlockMask(heads={self.heads}, query_blocks={self.query_blocks}, "
                f"key_blocks={self.key_blocks}, block_q={self.block_q}, block_k={self.block_k}, "
                f"density={self.density:.3f})")

    def __reduce__(self):
        return (BlockMask.from_bits, self._key)

    @classmethod
    def _wrap(cls, native):
        mask = cls.__new__(cls)
        mask._set(native)
        return mask

    def _set(self, native):
        self._native = native
        self._key = (native.heads, native.query_blocks, native.key_blocks, native.block_q,
                     native.block_k, native.bits)


def _integers(**values):
    """The values as 64-bit ints, in order; errors name the argument."""
    return [_checks.integer(name, value) for name, value in values.items()]
