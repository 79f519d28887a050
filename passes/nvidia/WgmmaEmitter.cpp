//===- WgmmaEmitter.cpp - warp-group building blocks for sm_90a -----------===//
#include "nvidia/WgmmaEmitter.h"
#include "nvidia/FragmentEpilogue.h"
#include "nvidia/NvvmIntrinsics.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace sieve::passes {

namespace {

gpu::AddressSpaceAttr workgroupSpace(MLIRContext *ctx) {
  return gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
}

/// An LLVM struct of `n` f32 (the accumulator of one wgmma).
LLVM::LLVMStructType accumulatorType(MLIRContext *ctx, int64_t n) {
  return LLVM::LLVMStructType::getLiteral(ctx, SmallVector<Type>(n, Float32Type::get(ctx)));
}

SmallVector<Value> unpackStruct(ImplicitLocOpBuilder &b, Value s, int64_t n) {
  SmallVector<Value> out;
  for (int64_t i = 0; i < n; ++i)
    out.push_back(LLVM::ExtractValueOp::create(b, s, i));
  return out;
}

} // namespace

SlabLayout SlabLayout::of(int64_t headDim) {
  for (int64_t width : {128, 64})
    if ((2 * headDim) % width == 0)
      return {width};
  return {32}; // every head dim the kernels take is a multiple of 16
}

uint64_t SlabLayout::descriptorMode() const {
  switch (rowBytes) {
  case 128:
    return 1;
  case 64:
    return 2;
  default:
    return 3;
  }
}

Value SlabLayout::swizzledChunk(FragmentBuilder &e, Value row, Value chunk) const {
  // Byte row * rowBytes + 16 * chunk of the slab has address bits 7.. equal
  // to row / (128 / rowBytes) (the chunk's bytes never carry into bit 7),
  // and the swizzle XORs their low log2(chunks()) bits into the chunk's.
  Value phase = rowBytes == 128 ? e.rem(row, 8) : e.rem(e.div(row, 128 / rowBytes), chunks());
  return arith::XOrIOp::create(e.b, chunk, phase);
}

nvgpu::TensorMapDescriptorType swizzledTensorMapType(MLIRContext *ctx, Type elt, int64_t rows,
                                                     SlabLayout layout) {
  auto box = MemRefType::get({1, 1, rows, layout.columns()}, elt, MemRefLayoutAttrInterface(),
                             workgroupSpace(ctx));
  auto swizzle = layout.rowBytes == 128 ? nvgpu::TensorMapSwizzleKind::SWIZZLE_128B
                                        : nvgpu::TensorMapSwizzleKind::SWIZZLE_NONE;
  return nvgpu::TensorMapDescriptorType::get(
      ctx, box, swizzle, nvgpu::TensorMapL2PromoKind::L2PROMO_256B,
      nvgpu::TensorMapOOBKind::OOB_ZERO, nvgpu::TensorMapInterleaveKind::INTERLEAVE_NONE);
}

SwizzledShared swizzledShared(FragmentBuilder &e) {
  ImplicitLocOpBuilder &b = e.b;
  auto bytesType = MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                                   MemRefLayoutAttrInterface(), workgroupSpace(b.getContext()));
  Value smem = gpu::DynamicSharedMemoryOp::create(b, bytesType);
  Value address = memref::ExtractAlignedPointerAsIndexOp::create(b, smem);
  Value pad =
      e.rem(arith::SubIOp::create(b, e.idx(kAtomBytes), e.rem(address, kAtomBytes)), kAtomBytes);
  return {smem, pad, e.add(address, pad)};
}

Value SwizzledShared::box(FragmentBuilder &e, int64_t byteOffset, int64_t rows,
                          SlabLayout layout) const {
  auto type = MemRefType::get({1, 1, rows, layout.columns()}, e.elt, MemRefLayoutAttrInterface(),
                              workgroupSpace(e.b.getContext()));
  return memref::ViewOp::create(e.b, type, smem, e.add(pad, byteOffset), ValueRange{});
}

Value SwizzledShared::slabs(FragmentBuilder &e, int64_t byteOffset, int64_t rows, int64_t headDim,
                            SlabLayout layout) const {
  auto type = MemRefType::get({layout.count(headDim) * rows, layout.columns()}, e.elt,
                              MemRefLayoutAttrInterface(), workgroupSpace(e.b.getContext()));
  return memref::ViewOp::create(e.b, type, smem, e.add(pad, byteOffset), ValueRange{});
}

Value SwizzledShared::floats(FragmentBuilder &e, int64_t byteOffset, int64_t count) const {
  auto type = MemRefType::get({count}, e.b.getF32Type(), MemRefLayoutAttrInterface(),
                              workgroupSpace(e.b.getContext()));
  return memref::ViewOp::create(e.b, type, smem, e.add(pad, byteOffset), ValueRange{});
}

Value WgmmaEmitter::descriptor(Value address, int64_t leadingBytes, int64_t strideBytes) {
  // Bits 0-13: the start address >> 4 (below); 16-29: LBO >> 4; 32-45:
  // SBO >> 4; 49-51: the base offset, 0 since every slab starts on its
  // swizzle's period (a k-step's start inside a row keeps bits 7.. of the
  // pattern's start); 62-63: the swizzle.
  const uint64_t fixed = (static_cast<uint64_t>((leadingBytes >> 4) & 0x3fff) << 16) |
                         (static_cast<uint64_t>((strideBytes >> 4) & 0x3fff) << 32) |
                         (slab.descriptorMode() << 62);
  Value addr = arith::IndexCastUIOp::create(b, b.getI64Type(), address);
  Value encoded = arith::AndIOp::create(
      b, arith::ShRUIOp::create(b, addr, arith::ConstantOp::create(b, b.getI64IntegerAttr(4))),
      arith::ConstantOp::create(b, b.getI64IntegerAttr(0x3fff)));
  return arith::OrIOp::create(
      b, encoded, arith::ConstantOp::create(b, b.getI64IntegerAttr(static_cast<int64_t>(fixed))));
}

Value WgmmaEmitter::productKMajor(Value aRows0, int64_t aTileRows, Value bTile, int64_t n,
                                  bool undefinedStart) {
  MLIRContext *ctx = b.getContext();
  auto wgmmaType = elt.isBF16() ? NVVM::WGMMATypes::bf16 : NVVM::WGMMATypes::f16;
  auto typeAttr = [&](NVVM::WGMMATypes t) { return NVVM::WGMMATypesAttr::get(ctx, t); };
  auto scaleIn = NVVM::WGMMAScaleInAttr::get(ctx, NVVM::WGMMAScaleIn::one);
  auto type = accumulatorType(ctx, n / 2);
  // Both operands K-major (K = the head dim, contiguous within a slab row):
  // one wgmma reads 8-row groups of 16 columns (32 bytes, never wider than
  // a slab row). SBO: the next 8 rows, one swizzle period further. LBO:
  // unused by swizzled K-major layouts (the k16 slice lies within one
  // swizzle width), encoded as 1. A k-step moves 32 bytes inside a slab
  // row; after kSteps() of them the next slab, a tile's rows further.
  Value acc = undefinedStart ? LLVM::UndefOp::create(b, type).getResult()
                             : LLVM::ZeroOp::create(b, type).getResult();
  const int64_t steps = slab.kSteps(), row = slab.rowBytes;
  for (int64_t kk = 0; kk < headDim / 16; ++kk) {
    const int64_t s = kk / steps, inSlab = (kk % steps) * 32;
    Value aAddr = add(aRows0, s * aTileRows * row + inSlab);
    Value bAddr = add(bTile, s * n * row + inSlab);
    acc = NVVM::WgmmaMmaAsyncOp::create(
        b, type, acc, descriptor(aAddr, 16, slab.atomBytes()),
        descriptor(bAddr, 16, slab.atomBytes()),
        NVVM::MMAShapeAttr::get(ctx, 64, static_cast<int>(n), 16), typeAttr(wgmmaType),
        typeAttr(wgmmaType), typeAttr(NVVM::WGMMATypes::f32),
        NVVM::WGMMAScaleOutAttr::get(ctx, kk == 0 ? NVVM::WGMMAScaleOut::zero
                                                  : NVVM::WGMMAScaleOut::one),
        scaleIn, scaleIn, NVVM::MMALayoutAttr::get(ctx, NVVM::MMALayout::row),
        NVVM::MMALayoutAttr::get(ctx, NVVM::MMALayout::col), NVVM::MMAIntOverflowAttr());
  }
  return acc;
}

Fragment WgmmaEmitter::fragmentOf(Value accumulator, int64_t n) {
  SmallVector<Value> flat = unpackStruct(b, accumulator, n / 2);
  Fragment s(n / 8);
  for (int64_t j = 0; j < n / 8; ++j)
    s[j].assign(flat.begin() + 4 * j, flat.begin() + 4 * j + 4);
  return s;
}

SmallVector<Value> WgmmaEmitter::accumulateRegisterA(ArrayRef<Value> acc,
                                                     ArrayRef<SmallVector<Value, 4>> a, Value bTile,
                                                     int64_t bTileRows) {
  // B is MN-major (N = the head dim, contiguous within a slab row; K = the
  // tile's rows): the k-step reads rows [16kk, 16kk + 16), 16 slab rows on.
  // LBO: from one swizzle width of N columns to the next, i.e. the next
  // slab, bTileRows rows further. SBO: from 8 K rows to the next 8, one
  // swizzle period further.
  SmallVector<Value> out(acc);
  for (auto [kk, regs] : llvm::enumerate(a)) {
    Value bAddr = add(bTile, static_cast<int64_t>(kk) * 16 * slab.rowBytes);
    Value result = emitWgmmaRegisterA(
        b, elt, accumulatorType(b.getContext(), static_cast<int64_t>(out.size())), out, regs,
        descriptor(bAddr, bTileRows * slab.rowBytes, slab.atomBytes()));
    out = unpackStruct(b, result, static_cast<int64_t>(out.size()));
  }
  return out;
}

SmallVector<SmallVector<Value, 4>> WgmmaEmitter::registerOperands(const Fragment &p) {
  SmallVector<SmallVector<Value, 4>> regs;
  for (int64_t kk = 0; kk < static_cast<int64_t>(p.size()) / 2; ++kk) {
    regs.emplace_back();
    for (Value pair : probabilityOperand(*this, p, kk))
      regs.back().push_back(LLVM::BitcastOp::create(b, b.getI32Type(), pair));
  }
  return regs;
}

void WgmmaEmitter::fence() { NVVM::WgmmaFenceAlignedOp::create(b); }
void WgmmaEmitter::commit() { NVVM::WgmmaGroupSyncAlignedOp::create(b); }
void WgmmaEmitter::waitGroups(int64_t pending) { NVVM::WgmmaWaitGroupSyncOp::create(b, pending); }

std::pair<Value, Value> WgmmaEmitter::slabChunk(Value row, Value chunk, int64_t tileRows) {
  const int64_t chunks = slab.chunks();
  Value slabRow = add(row, mul(div(chunk, chunks), tileRows));
  return {slabRow, mul(slab.swizzledChunk(*this, slabRow, rem(chunk, chunks)), 8)};
}

void WgmmaEmitter::copyQueryRowsAsync(Value q, Value bi, Value head, Value firstRow, int64_t limit,
                                      Value tile, int64_t rows, Value tid, int64_t threads) {
  copyRowChunksAsync(q, bi, head, firstRow, limit, rows, headDim / 8, tid, threads,
                     /*queryRows=*/true, tile,
                     [&](Value r, Value chunk) { return slabChunk(r, chunk, rows); });
}

void WgmmaEmitter::asyncProxyFence() {
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKindAttr::get(b.getContext(), NVVM::ProxyKind::async_shared),
      NVVM::SharedSpaceAttr::get(b.getContext(), NVVM::SharedSpace::shared_cta));
}

void WgmmaEmitter::storeGroupRows(ArrayRef<Value> acc, const Value *factor, Value tile,
                                  int64_t tileRows, Value groupRow0, Value warpRow0, Value laneRow,
                                  Value laneCol, Value groupThread, Value barrierId, Value dst,
                                  Value bi, Value head, Value firstRow, int64_t limit,
                                  Value firstSlab) {
  // Staged in the group's rows of a stack of slabs of `tileRows` rows
  // each, swizzled as TMA leaves them; a window's chunks in its own slabs,
  // firstSlab * tileRows rows on.
  auto swizzled = [&](Value row, Value chunk) { // column of a 16-byte chunk in a slab row
    return mul(slab.swizzledChunk(*this, row, chunk), 8);
  };
  const int64_t chunks = slab.chunks();
  Value windowRow0 = firstSlab ? mul(firstSlab, tileRows) : Value();
  auto inWindow = [&](Value row) { return windowRow0 ? add(row, windowRow0) : row; };
  StagingLayout slabs{
      [&](Value row, int64_t chunk) {
        Value slabRow = inWindow(add(row, (chunk / chunks) * tileRows));
        return std::make_pair(slabRow, swizzled(slabRow, idx(chunk % chunks)));
      },
      [&](Value row, Value chunk) { return slabChunk(inWindow(row), chunk, tileRows); }};
  StoreGroup group{kWarpGroup, groupThread, groupRow0, warpRow0, laneRow, laneCol, barrierId};
  if (!firstSlab) {
    storeFragmentRows(*this, headDim, acc, factor, group, slabs, tile, dst, bi, head, firstRow,
                      limit);
    return;
  }
  const int64_t columns = 2 * static_cast<int64_t>(acc.size());
  Value window = columnWindow(*this, dst, mul(firstSlab, chunks), columns);
  storeFragmentRows(*this, columns, acc, factor, group, slabs, tile, window, bi, head, firstRow,
                    limit);
}

GroupCoords groupCoords(FragmentBuilder &e, Value tid, int64_t groupsPerRows) {
  constexpr int64_t warpSize = 32;
  GroupCoords c;
  c.consumer = arith::SubIOp::create(e.b, e.div(tid, kWarpGroup), e.idx(1));
  c.groupThread = e.rem(tid, kWarpGroup);
  c.warp = e.div(c.groupThread, warpSize);
  c.lane = e.rem(c.groupThread, warpSize);
  c.laneRow = e.div(c.lane, 4);
  c.laneCol = e.mul(e.rem(c.lane, 4), 2);
  if (groupsPerRows > 1) {
    c.columnGroup = e.rem(c.consumer, groupsPerRows);
    c.groupRow0 = e.mul(e.div(c.consumer, groupsPerRows), 64);
  } else {
    c.groupRow0 = e.mul(c.consumer, 64);
  }
  c.warpRow0 = e.add(c.groupRow0, e.mul(c.warp, 16));
  return c;
}

} // namespace sieve::passes
