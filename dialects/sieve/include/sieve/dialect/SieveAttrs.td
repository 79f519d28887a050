//===- SieveAttrs.td - sieve attributes ---------------------*- tablegen -*-===//
#ifndef SIEVE_ATTRS_TD
#define SIEVE_ATTRS_TD

include "sieve/dialect/SieveDialect.td"
include "mlir/IR/AttrTypeBase.td"

def Sieve_BlockMaskAttr : AttrDef<Sieve_Dialect, "BlockMask"> {
  let mnemonic = "block_mask";
  let summary = "A [heads, query blocks, key blocks] table of kept tiles, bit-packed";
  let description = [{
    One bit per tile, row-major over (head, query block, key block); bit n is
    bit (n % 8) of byte (n / 8). The textual form spells the bytes in hex so a
    32-head 128x128-tile mask costs 128 KiB of text, not half a million
    attributes:

    ```mlir
    #sieve.block_mask<2x2x3, "2f00">
    ```

    Bits past the last tile must be zero, so equal masks print equally and
    hash equally (the runtime's cache keys rely on that).
  }];
  let parameters = (ins
    "int64_t":$heads,
    "int64_t":$queryBlocks,
    "int64_t":$keyBlocks,
    // Packed bits, ceil(heads*queryBlocks*keyBlocks / 8) bytes.
    StringRefParameter<"packed tile bits">:$bits
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    int64_t numTiles() const { return getHeads() * getQueryBlocks() * getKeyBlocks(); }
    bool isKept(int64_t head, int64_t qBlock, int64_t kBlock) const;
    int64_t countKept() const;
  }];
}

#endif // SIEVE_ATTRS_TD
