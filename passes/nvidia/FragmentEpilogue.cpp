//===- FragmentEpilogue.cpp - accumulator rows to global memory -----------===//
#include "nvidia/FragmentEpilogue.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace sieve::passes {

namespace {

constexpr int64_t kChunk = 8; // 16-bit elements in a 16-byte chunk

/// Makes the group's staged rows visible to all its threads.
void syncGroup(FragmentBuilder &e, const StoreGroup &group) {
  ImplicitLocOpBuilder &b = e.b;
  if (!group.barrierId) {
    gpu::BarrierOp::create(b);
    return;
  }
  // Only the group's threads wrote (and now read) these rows.
  Value id = arith::IndexCastOp::create(b, b.getI32Type(), group.barrierId).getResult();
  NVVM::BarrierOp::create(b, TypeRange{}, id,
                          arith::ConstantOp::create(b, b.getI32IntegerAttr(group.threads)),
                          NVVM::BarrierReductionAttr(), Value());
}

} // namespace

void storeFragmentRows(FragmentBuilder &e, int64_t headDim, ArrayRef<Value> acc,
                       const Value *factor, const StoreGroup &group, const StagingLayout &layout,
                       Value tile, Value dst, Value bi, Value head, Value firstRow, int64_t limit,
                       Value liveLimit) {
  ImplicitLocOpBuilder &b = e.b;
  const int64_t chunksPerRow = headDim / kChunk;
  for (int64_t j = 0; j < chunksPerRow; ++j)
    for (int64_t half = 0; half < 2; ++half) {
      Value row = e.add(e.add(group.warpRow0, group.laneRow), 8 * half);
      Value lo = acc[j * 4 + 2 * half], hi = acc[j * 4 + 2 * half + 1];
      if (factor) {
        lo = arith::MulFOp::create(b, lo, factor[half]);
        hi = arith::MulFOp::create(b, hi, factor[half]);
      }
      auto [stagedRow, chunkCol] = layout.fragmentChunk(row, j);
      Value col = e.add(chunkCol, group.laneCol);
      auto store = vector::StoreOp::create(b, e.pack(lo, hi), tile, ValueRange{stagedRow, col});
      store.setAlignment(4);
    }
  syncGroup(e, group);
  for (int64_t i = 0; i < group.rows() * chunksPerRow / group.threads; ++i) {
    Value c = e.add(group.thread, i * group.threads);
    Value row = e.add(group.groupRow0, e.div(c, chunksPerRow)), chunk = e.rem(c, chunksPerRow);
    Value target = e.add(firstRow, row);
    e.ifThen(e.ult(target, liveLimit ? liveLimit : e.idx(limit)), [&] {
      auto [stagedRow, col] = layout.copyChunk(row, chunk);
      auto load = vector::LoadOp::create(b, VectorType::get({kChunk}, e.elt), tile,
                                         ValueRange{stagedRow, col});
      load.setAlignment(16);
      auto [dstHead, dstRow] = e.queryAt(head, target);
      auto store = vector::StoreOp::create(b, load, dst,
                                           ValueRange{bi, dstHead, dstRow, e.mul(chunk, kChunk)});
      store.setAlignment(16);
    });
  }
}

Value columnWindow(FragmentBuilder &e, Value dst, Value firstChunk, int64_t columns) {
  // (A reinterpret_cast of the strided metadata: the GPU pipeline lowers
  // it directly, where a subview would need expand-strided-metadata.)
  ImplicitLocOpBuilder &b = e.b;
  auto type = cast<MemRefType>(dst.getType());
  auto meta = memref::ExtractStridedMetadataOp::create(b, dst);
  SmallVector<int64_t> shape(type.getShape());
  shape.back() = columns;
  SmallVector<OpFoldResult> sizes, strides;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    sizes.push_back(type.isDynamicDim(d) ? OpFoldResult(meta.getSizes()[d])
                                         : OpFoldResult(b.getIndexAttr(shape[d])));
    strides.push_back(d + 1 < type.getRank() ? OpFoldResult(meta.getStrides()[d])
                                             : OpFoldResult(b.getIndexAttr(1)));
  }
  SmallVector<int64_t> layoutStrides(type.getRank() - 1, ShapedType::kDynamic);
  layoutStrides.push_back(1);
  auto windowType =
      MemRefType::get(shape, type.getElementType(),
                      StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic, layoutStrides),
                      type.getMemorySpace());
  Value offset = e.add(meta.getOffset(), e.mul(firstChunk, kChunk));
  return memref::ReinterpretCastOp::create(b, windowType, dst, offset, sizes, strides);
}

} // namespace sieve::passes
