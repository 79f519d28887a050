//===- CpuMicroKernel.h - register-blocked f32 tiles for the host -*- C++ -*-===//
//
// The two products of attention on the CPU backend, as register-blocked
// loops over f32 tiles in memory (the vector dialect; the lane count comes
// from the host, sieve-lower-to-cpu's `vector-width`):
//
//   score tile       C[i][n] = epilogue(sum_k A[i][k] * Bt[k][n])
//   accumulate tile  O[i][n] = scale[i] * O[i][n] + sum_{j < count} P[i][j] * B[j][n]
//
// In both, a register block is `rows` rows of the left operand (each
// element broadcast) times `vectors` vectors of the right one: per step of
// the reduction, `vectors` loads and `rows` broadcasts feed rows * vectors
// FMAs into accumulators that stay in registers. The forward uses them for
// Q K^T and P V, the backward for its four products with other operands.
// Also here: exp2 on f32 vectors (a polynomial: math.exp2 on a vector
// would become one libm call per lane) and the NaN-tolerant maximum.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_CONVERSIONS_CPUMICROKERNEL_H
#define SIEVE_PASSES_CONVERSIONS_CPUMICROKERNEL_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <functional>

namespace sieve::passes {

/// rows x vectors accumulators of `lanes` f32 each.
struct RegisterBlock {
  int64_t rows = 4, vectors = 4, lanes = 16;
};

/// The register block for `lanes`-wide vectors on a host whose widest
/// vector holds `hostLanes` f32: as many accumulators as its register file
/// keeps with room for the operands (32 registers with AVX-512, 16 below).
RegisterBlock registerBlockFor(int64_t lanes, int64_t hostLanes);

/// C[i][n] for rows i < rowBlocks * block.rows and every n: `a` is
/// memref<R x K> (rows broadcast), `bt` memref<K x N> (N = vectors *
/// block.lanes, loaded as vectors), `c` memref<R x N>. The epilogue gets
/// each accumulator with its row and vector index and returns what is
/// stored (masking goes there).
struct ScoreTile {
  mlir::Value a, bt, c;
  mlir::Value rowBlocks; // index
  int64_t depth = 0;     // K
  int64_t vectors = 0;   // N / lanes
};
using ScoreEpilogue = std::function<mlir::Value(mlir::ImplicitLocOpBuilder &, mlir::Value row,
                                                mlir::Value vectorIndex, mlir::Value acc)>;
void emitScoreTile(mlir::ImplicitLocOpBuilder &b, const ScoreTile &tile, RegisterBlock block,
                   const ScoreEpilogue &epilogue);

/// O[i][n] = scale[i] * O[i][n] + sum_{first <= j < count} P[i][j] * B[j][n]
/// for rows i < rowBlocks * block.rows: `p` is memref<R x J> (broadcast),
/// `bRows` memref<J x N> (vectors), `o` memref<R x N>; `rowScale`
/// memref<R> or null (no scaling), `first` null for 0. Each row's sum runs
/// over j in order.
struct AccumulateTile {
  mlir::Value p, bRows, o, rowScale;
  mlir::Value rowBlocks, count; // index
  int64_t vectors = 0;          // N / lanes
  mlir::Value first;            // index, or null
};
void emitAccumulateTile(mlir::ImplicitLocOpBuilder &b, const AccumulateTile &tile,
                        RegisterBlock block);

/// 2^x for an f32 or a vector of f32: x = n + f with n = round(x), 2^f
/// from a degree-6 polynomial on [-1/2, 1/2] (relative error under 2e-7),
/// 2^n put into the exponent bits. Exact 0 for x <= -127 (so -inf gives
/// 0), +inf for x >= 127.5 or +inf, NaN for NaN, exactly 1 for 0.
mlir::Value emitPolynomialExp2(mlir::ImplicitLocOpBuilder &b, mlir::Value x);

/// Which lanes of vector `vectorIndex` of a row (lane l is column
/// vectorIndex * lanes + l) lie in [lower, upper): an i1 vector. `lower`
/// may be null (no lower bound); both are index values, may be negative.
mlir::Value lanesInRange(mlir::ImplicitLocOpBuilder &b, int64_t lanes, mlir::Value vectorIndex,
                         mlir::Value lower, mlir::Value upper);

/// A vector of f32 holding `v` in every lane.
mlir::Value f32Splat(mlir::ImplicitLocOpBuilder &b, mlir::VectorType type, double v);
/// `x` (f32 or vector) splat of the constant `v`, shaped like `like`.
mlir::Value f32Like(mlir::ImplicitLocOpBuilder &b, mlir::Value like, double v);

/// x > current ? x : current, so a NaN `x` leaves the running maximum as it
/// was (x86's maxps, one instruction). A NaN score still reaches its row:
/// through exp2(NaN - max) into the sum and the output.
mlir::Value runningMax(mlir::ImplicitLocOpBuilder &b, mlir::Value current, mlir::Value x);

} // namespace sieve::passes

#endif
