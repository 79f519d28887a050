// RUN: sieve-opt %s -split-input-file -sieve-lower-to-cpu=vector-width=16 | FileCheck %s --check-prefix=W16
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-cpu=vector-width=8 | FileCheck %s --check-prefix=W8

// The micro-kernels take their width from the host (`vector-width`, the
// compiler passes the host's). With 16 lanes (AVX-512) the score tile of a
// 64-key block is one register block of 4 query rows x 4 key vectors: 16
// accumulators carried through the loop over the head dimension, one FMA
// of a broadcast query element and a key vector each; P V likewise (4 rows
// x 4 vectors of the head dimension). With 8 lanes (AVX2) blocks are 4 x 2.
// Causal keys are masked per lane (a compare of lane indices, a select to
// -inf); exp2 is a polynomial on vectors (round, Horner's FMAs, the
// exponent's bits shifted into place).
// W16-LABEL: func.func @__sieve_cpu_attention_unit_
// W16: %{{.*}}:16 = scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// W16: %[[B:.*]] = vector.broadcast %{{.*}} : f32 to vector<16xf32>
// W16: math.fma %[[B]], %{{.*}}, %{{.*}} : vector<16xf32>
// W16: %[[KEEP:.*]] = arith.cmpi slt, %{{.*}}, %{{.*}} : vector<16xi32>
// W16: arith.select %[[KEEP]], %{{.*}}, %{{.*}} : vector<16xi1>, vector<16xf32>
// W16: math.roundeven %{{.*}} : vector<16xf32>
// W16: arith.fptosi %{{.*}} : vector<16xf32> to vector<16xi32>
// W16: arith.shli %{{.*}}, %{{.*}} : vector<16xi32>
// W16: arith.bitcast %{{.*}} : vector<16xi32> to vector<16xf32>
// W16: %{{.*}}:16 = scf.for {{.*}} -> (vector<16xf32>,
// W8-LABEL: func.func @__sieve_cpu_attention_unit_
// W8: %{{.*}}:8 = scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// W8: math.fma %{{.*}}, %{{.*}}, %{{.*}} : vector<8xf32>
// W8: arith.cmpi slt, %{{.*}}, %{{.*}} : vector<8xi32>
// W8: math.roundeven %{{.*}} : vector<8xf32>
// W8: %{{.*}}:8 = scf.for {{.*}} -> (vector<8xf32>,
func.func @causal_f32(%q: memref<1x1x128x64xf32>, %k: memref<1x1x128x64xf32>, %v: memref<1x1x128x64xf32>, %o: memref<1x1x128x64xf32>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 1, 0>, row_spans = array<i32: 0, 2, 2, 3>, key_blocks = array<i32: 0, 1, 0>, scale = 0.125 : f32, block_q = 64, block_k = 64, causal} : memref<1x1x128x64xf32>, memref<1x1x128x64xf32>, memref<1x1x128x64xf32>, memref<1x1x128x64xf32>
  return
}

// -----

// bf16 with any strides: each tensor is also viewed with a unit stride on
// the head dimension, used when its stride there is 1 at run time (whole
// vectors, widened to f32), element by element otherwise; the output is
// narrowed back as vectors.
// W16-LABEL: func.func @__sieve_cpu_attention_unit_
// W16: memref.reinterpret_cast %{{.*}} to offset: [%{{.*}}], sizes: [1, 2, %{{.*}}, 32], strides: [%{{.*}}, %{{.*}}, %{{.*}}, 1] : memref<bf16> to memref<1x2x?x32xbf16, strided<[?, ?, ?, 1], offset: ?>>
// W16: %[[UNIT:.*]] = arith.cmpi eq, %{{.*}}, %{{.*}} : index
// W16: scf.if %[[UNIT]] {
// W16: vector.load %{{.*}} : memref<1x2x?x32xbf16, strided<[?, ?, ?, 1], offset: ?>>, vector<16xbf16>
// W16: arith.extf %{{.*}} : vector<16xbf16> to vector<16xf32>
// W16: } else {
// W16: memref.load %{{.*}} : memref<1x2x?x32xbf16, strided<[?, ?, ?, ?], offset: ?>>
// W16: arith.extf %{{.*}} : bf16 to f32
// W16: arith.truncf %{{.*}} : vector<16xf32> to vector<16xbf16>
// W16: vector.store %{{.*}} : memref<1x2x?x32xbf16, strided<[?, ?, ?, 1], offset: ?>>, vector<16xbf16>
func.func @strided_bf16(%q: memref<1x2x32x32xbf16, strided<[?, ?, ?, ?], offset: ?>>, %k: memref<1x1x32x32xbf16, strided<[?, ?, ?, ?], offset: ?>>, %v: memref<1x1x32x32xbf16, strided<[?, ?, ?, ?], offset: ?>>, %o: memref<1x2x32x32xbf16, strided<[?, ?, ?, ?], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 1>, row_query_blocks = array<i32: 0, 0>, row_spans = array<i32: 0, 1, 0, 1>, key_blocks = array<i32: 0>, scale = 0.125 : f32, block_q = 32, block_k = 32} : memref<1x2x32x32xbf16, strided<[?, ?, ?, ?], offset: ?>>, memref<1x1x32x32xbf16, strided<[?, ?, ?, ?], offset: ?>>, memref<1x1x32x32xbf16, strided<[?, ?, ?, ?], offset: ?>>, memref<1x2x32x32xbf16, strided<[?, ?, ?, ?], offset: ?>>
  return
}
