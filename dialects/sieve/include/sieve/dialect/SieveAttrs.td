//===- SieveAttrs.td - sieve attributes ---------------------*- tablegen -*-===//
#ifndef SIEVE_ATTRS_TD
#define SIEVE_ATTRS_TD

include "sieve/dialect/SieveDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Sieve_CausalAlign : I32EnumAttr<"CausalAlign", "where a causal mask's diagonal sits", [
    I32EnumAttrCase<"TopLeft", 0, "top_left">,
    I32EnumAttrCase<"BottomRight", 1, "bottom_right">]> {
  let cppNamespace = "::sieve::dialect";
  let genSpecializedAttr = 0;
}

def Sieve_CausalAlignAttr : EnumAttr<Sieve_Dialect, Sieve_CausalAlign, "causal_align"> {
  let summary = "Where a causal mask's diagonal sits when Sq != Sk";
  let description = [{
    `top_left`: query i sees keys j <= i (PyTorch's `is_causal`).
    `bottom_right`: the queries are the last Sq positions of the keys'
    sequence, so query i sees keys j <= i + Sk - Sq (FlashAttention's
    causal; KV-cache prefill and decode). With Sq > Sk the first Sq - Sk
    queries see no key at all and are written as zeros.

    ```mlir
    causal_align = #sieve.causal_align<bottom_right>
    ```
  }];
  let assemblyFormat = "`<` $value `>`";
}

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

def Sieve_ParamAttr : AttrDef<Sieve_Dialect, "Param"> {
  let mnemonic = "param";
  let summary = "One kernel parameter: a field of a launch buffer's descriptor";
  let description = [{
    Names which scalar of which buffer a GPU kernel's parameter is, in the
    slot numbering the runtime finds buffers by
    (runtime/include/sieve/runtime/LaunchContract.h): a memref descriptor's
    allocated or aligned pointer, offset, size or stride of a dimension, or
    a TMA descriptor of a rank-4 tensor with its box:

    ```mlir
    #sieve.param<query.aligned>  #sieve.param<key.size[2]>
    #sieve.param<value.tensor_map[64x64]>  #sieve.param<workspace.stride[0]>
    ```
  }];
  let parameters = (ins "int32_t":$tensor, "int32_t":$field, "int32_t":$dim,
                        "int64_t":$boxRows, "int64_t":$boxCols);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    static ParamAttr get(::mlir::MLIRContext *ctx, const ::sieve::runtime::ParamSlot &slot);
    ::sieve::runtime::ParamSlot getSlot() const;
  }];
}

def Sieve_LaunchAttr : AttrDef<Sieve_Dialect, "Launch"> {
  let mnemonic = "launch";
  let summary = "How the runtime launches a GPU kernel";
  let description = [{
    The launch contract the GPU lowering attaches to each kernel it emits
    (`sieve.launch` on the gpu.func) and the compiler copies into the
    artifact: the kernel's role in its artifact's sequence of launches, its
    grid and block, the dynamic shared memory it takes, the f32 workspace
    the launches share (bytes; 0: none), the alignment in bytes it assumes of
    every tensor's base and outer strides (0: none), its parameters in
    order, and, when it ends in `waits_on_previous`, that the kernel waits
    (griddepcontrol.wait) for the previous launch's results itself, so the
    runtime may launch it before that launch ends (sm_90).

    ```mlir
    #sieve.launch<combine, grid = [6, 2, 1], block = [256, 1, 1], shared = 0,
                  workspace = 4096, align = 0, params = [#sieve.param<out.aligned>, ...]>
    ```
  }];
  let parameters = (ins "int32_t":$role, ArrayRefParameter<"int32_t">:$grid,
                        ArrayRefParameter<"int32_t">:$block, "int64_t":$sharedBytes,
                        "int64_t":$workspaceBytes, "int64_t":$alignBytes,
                        ArrayRefParameter<"ParamAttr">:$params, "bool":$waitsOnPrevious);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The runtime's KernelLaunch for the kernel named `entry`.
    ::sieve::runtime::KernelLaunch getLaunch(::llvm::StringRef entry) const;
  }];
}

#endif // SIEVE_ATTRS_TD
