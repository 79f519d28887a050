//===- TmaPipeline.cpp - the TMA/mbarrier pipeline of the Hopper kernels --===//
#include "nvidia/TmaPipeline.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;

namespace sieve::passes {

TmaPipeline::TmaPipeline(WgmmaEmitter &e, const SwizzledShared &sh, int64_t stages,
                         int64_t fullPerStage)
    : e(e), sh(sh), stages(stages), fullPerStage(fullPerStage) {
  MLIRContext *ctx = e.b.getContext();
  group = nvgpu::MBarrierCreateOp::create(
      e.b, nvgpu::MBarrierGroupType::get(
               ctx, gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup),
               1 + (fullPerStage + 1) * stages));
  ticks = e.idx(10000000);
}

void TmaPipeline::init(Value threadId, int64_t fullArrivals, int64_t emptyArrivals) {
  leader = arith::CmpIOp::create(e.b, arith::CmpIPredicate::eq, threadId, e.idx(0));
  e.ifThen(leader, [&] {
    initBarrier(0, 1);
    for (int64_t s = 0; s < stages; ++s) {
      for (int64_t i = 0; i < fullPerStage; ++i)
        initBarrier(1 + i * stages + s, fullArrivals);
      initBarrier(1 + fullPerStage * stages + s, emptyArrivals);
    }
    // The initialization must be visible to the async (TMA) proxy.
    NVVM::FenceMbarrierInitOp::create(e.b);
  });
  gpu::BarrierOp::create(e.b);
}

void TmaPipeline::commitResident(int64_t bytes) { expectBytes(resident(), bytes); }

void TmaPipeline::copyResident(Value desc, Value firstRow, Value head, Value batch, int64_t rows,
                               int64_t offset) {
  loadTile(desc, resident(), firstRow, head, batch, rows, offset);
}

void TmaPipeline::waitResident() {
  wait(resident(), arith::ConstantOp::create(e.b, e.b.getBoolAttr(false)));
}

void TmaPipeline::producerLoop(Value numSteps,
                               const std::function<void(const PipelineState &)> &body) {
  auto loop = scf::ForOp::create(e.b, e.idx(0), numSteps, e.idx(1));
  OpBuilder::InsertionGuard guard(e.b);
  e.b.setInsertionPointToStart(loop.getBody());
  Value t = loop.getInductionVar(), stage = e.rem(t, stages);
  // The first pass over the buffers finds them free: waiting on the parity
  // of the phase before the current one returns at once.
  Value phase = parity(t, /*flip=*/true);
  wait(empty(stage), phase);
  body({t, stage, phase});
}

void TmaPipeline::commit(const PipelineState &state, int64_t i, int64_t bytes) {
  expectBytes(full(state.stage, i), bytes);
}

void TmaPipeline::copy(const PipelineState &state, int64_t i, Value desc, Value firstRow,
                       Value head, Value batch, int64_t rows, int64_t offset) {
  loadTile(desc, full(state.stage, i), firstRow, head, batch, rows, offset);
}

void TmaPipeline::arrive(const PipelineState &state, int64_t i) {
  nvgpu::MBarrierArriveOp::create(e.b, nvgpu::MBarrierTokenType::get(e.b.getContext()), group,
                                  full(state.stage, i));
}

void TmaPipeline::forStage(const PipelineState &state, const std::function<void(int64_t)> &body) {
  for (int64_t s = 0; s < stages; ++s)
    e.ifThen(arith::CmpIOp::create(e.b, arith::CmpIPredicate::eq, state.stage, e.idx(s)),
             [&] { body(s); });
}

PipelineState TmaPipeline::consumerState(Value step) {
  Value stage = e.rem(step, stages);
  return {step, stage, parity(step, /*flip=*/false)};
}

void TmaPipeline::consumerWait(const PipelineState &state, int64_t i) {
  wait(full(state.stage, i), state.phase);
}

void TmaPipeline::consumerRelease(const PipelineState &state) {
  nvgpu::MBarrierArriveOp::create(e.b, nvgpu::MBarrierTokenType::get(e.b.getContext()), group,
                                  empty(state.stage));
}

Value TmaPipeline::parity(Value t, bool flip) {
  Value bit = e.rem(e.div(t, stages), 2);
  if (flip)
    bit = arith::XOrIOp::create(e.b, bit, e.idx(1));
  return arith::IndexCastOp::create(e.b, e.b.getI1Type(), bit);
}

void TmaPipeline::initBarrier(int64_t id, int64_t arrivals) {
  nvgpu::MBarrierInitOp::create(e.b, group, e.idx(arrivals), e.idx(id), Value());
}

void TmaPipeline::wait(Value id, Value phase) {
  nvgpu::MBarrierTryWaitParityOp::create(e.b, group, phase, ticks, id);
}

void TmaPipeline::expectBytes(Value id, int64_t bytes) {
  nvgpu::MBarrierArriveExpectTxOp::create(e.b, group, e.idx(bytes), id, Value());
}

void TmaPipeline::loadTile(Value desc, Value barrier, Value firstRow, Value head, Value batch,
                           int64_t rows, int64_t offset) {
  const SlabLayout layout = e.slab;
  for (int64_t slab = 0; slab < layout.count(e.headDim); ++slab)
    nvgpu::TmaAsyncLoadOp::create(
        e.b, sh.box(e, offset + slab * rows * layout.rowBytes, rows, layout), group, desc,
        ValueRange{e.idx(slab * layout.columns()), firstRow, head, batch}, barrier, Value(),
        Value());
}

} // namespace sieve::passes
