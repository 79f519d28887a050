//===- SpecializeMask.cpp - block mask -> constant row tables -------------===//
//
// The mask is a compile-time constant, so the work it implies can be laid out
// here once: which (head, query block) rows have work, which key blocks each
// one visits, and in what order rows should be scheduled.
//
//===----------------------------------------------------------------------===//
#include "sieve/dialect/SieveOps.h"
#include "sieve/passes/Passes.h"

#include "mlir/IR/Builders.h"

#include <algorithm>
#include <numeric>

namespace sieve::passes {
#define GEN_PASS_DEF_SPECIALIZEMASK
#include "sieve/passes/Passes.h.inc"
} // namespace sieve::passes

using namespace mlir;
using namespace sieve::dialect;

namespace {

struct RowTables {
  SmallVector<int32_t> heads, queryBlocks, offsets, keyBlocks;
};

RowTables buildRowTables(AttentionOp op) {
  BlockMaskAttr mask = op.getMask();
  const int64_t heads = mask.getHeads(), qBlocks = mask.getQueryBlocks(),
                kBlocks = mask.getKeyBlocks();
  const int64_t blockQ = op.getBlockQ(), blockK = op.getBlockK();
  const int64_t seqQ = op.getQuery().getType().getDimSize(2);
  const bool causal = op.getCausal();
  StringRef bits = mask.getBits();

  // Gather each row's kept key blocks, skipping whole zero bytes so sparse
  // masks cost little more than their kept tiles.
  struct Row {
    int32_t head, qBlock, begin, size;
  };
  SmallVector<Row> rows;
  rows.reserve(heads * qBlocks);
  SmallVector<int32_t> keys;
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t qb = 0; qb < qBlocks; ++qb) {
      // With causal, a key block whose first key lies past the block's last
      // query is entirely masked: drop it now rather than test it at run time.
      int64_t lastQuery = std::min((qb + 1) * blockQ, seqQ) - 1;
      int64_t kbEnd = causal ? std::min(kBlocks, lastQuery / blockK + 1) : kBlocks;
      int32_t begin = keys.size();
      int64_t base = (h * qBlocks + qb) * kBlocks;
      for (int64_t kb = 0; kb < kbEnd;) {
        int64_t n = base + kb;
        uint8_t byte = static_cast<uint8_t>(bits[n / 8]) >> (n % 8);
        if (byte == 0) {
          kb += 8 - n % 8;
          continue;
        }
        if (byte & 1)
          keys.push_back(kb);
        ++kb;
      }
      rows.push_back({static_cast<int32_t>(h), static_cast<int32_t>(qb), begin,
                      static_cast<int32_t>(keys.size()) - begin});
    }
  }

  // Longest rows first: the GPU starts the slow rows early and fills the tail
  // with short ones; empty rows end up last, as zero-fill only.
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row &a, const Row &b) { return a.size > b.size; });

  RowTables t;
  t.offsets.push_back(0);
  for (const Row &r : rows) {
    t.heads.push_back(r.head);
    t.queryBlocks.push_back(r.qBlock);
    t.keyBlocks.append(keys.begin() + r.begin, keys.begin() + r.begin + r.size);
    t.offsets.push_back(t.keyBlocks.size());
  }
  return t;
}

struct SpecializeMaskPass : public sieve::passes::impl::SpecializeMaskBase<SpecializeMaskPass> {
  void runOnOperation() override {
    SmallVector<AttentionOp> ops;
    getOperation()->walk([&](AttentionOp op) { ops.push_back(op); });
    for (AttentionOp op : ops) {
      RowTables t = buildRowTables(op);
      OpBuilder b(op);
      BlockSparseAttentionOp::create(
          b, op.getLoc(), op.getQuery(), op.getKey(), op.getValue(), op.getOut(),
          b.getDenseI32ArrayAttr(t.heads), b.getDenseI32ArrayAttr(t.queryBlocks),
          b.getDenseI32ArrayAttr(t.offsets), b.getDenseI32ArrayAttr(t.keyBlocks), op.getScaleAttr(),
          op.getBlockQAttr(), op.getBlockKAttr(), op.getCausalAttr());
      op.erase();
    }
  }
};

} // namespace
