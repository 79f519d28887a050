// RUN: sieve-opt %s -sieve-lower-to-cpu | FileCheck %s
// RUN: sieve-opt %s -sieve-lower-to-cpu -sieve-lower-to-cpu | FileCheck %s --check-prefix=IDEMPOTENT

// The tables become private constant globals. The op becomes the serial run
// of its host phases over a heap workspace: pack (K^T and V tiles per key
// block), then attention (per work row); each phase is a host function over
// a range of work units with its launch contract, and calls its unit's
// code in the kernel's library (functions named by a hash of their code,
// taking the row tables and sequence lengths as arguments, so every mask
// and length of this tile configuration shares them). f16 is widened on
// load and narrowed on store, a vector of the head dimension at a time when
// it is contiguous, else element by element.
// CHECK-DAG: memref.global "private" constant @__sieve_cpu0_row_heads : memref<2xi32> = dense<0>
// CHECK-DAG: memref.global "private" constant @__sieve_cpu0_row_query_blocks : memref<2xi32> = dense<[1, 0]>
// CHECK-DAG: memref.global "private" constant @__sieve_cpu0_row_spans : memref<4xi32> = dense<[0, 2, 2, 2]>
// CHECK-DAG: memref.global "private" constant @__sieve_cpu0_key_blocks : memref<2xi32> = dense<[1, 0]>
// CHECK-LABEL: func @lower(
// CHECK-NOT: sieve.
// CHECK: %[[HEAP:.*]] = memref.alloc() {alignment = 64 : i64} : memref<32xf32>
// CHECK: %[[WS:.*]] = memref.cast %[[HEAP]] : memref<32xf32> to memref<?xf32>
// CHECK: call @__sieve_cpu0_pack(%arg0, %arg1, %arg2, %arg3, %[[WS]], %{{.*}}, %{{.*}})
// CHECK: call @__sieve_cpu0_attention(%arg0, %arg1, %arg2, %arg3, %[[WS]], %{{.*}}, %{{.*}})
// CHECK: memref.dealloc %[[HEAP]] : memref<32xf32>

// The library's pack unit, one (batch entry, key head, key block): k's
// rows become columns (a vector of a row widened, its lanes stored down a
// column), v's rows move as vectors.
// CHECK: func.func @[[PACK:__sieve_cpu_pack_unit_[0-9A-F]+]](%{{.*}}: memref<1x1x?x4xf16>, %{{.*}}: memref<1x1x?x4xf16>, %{{.*}}: memref<?xf32>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index) attributes {sieve.cpu_library}
// CHECK: vector.load %{{.*}} : memref<1x1x?x4xf16>, vector<4xf16>
// CHECK: %[[ROW:.*]] = arith.extf %{{.*}} : vector<4xf16> to vector<4xf32>
// CHECK: vector.extract %[[ROW]][3] : f32 from vector<4xf32>
// CHECK: vector.load %{{.*}} : memref<1x1x?x4xf16>, vector<4xf16>
// CHECK: arith.extf %{{.*}} : vector<4xf16> to vector<4xf32>

// The library's attention unit, one (work row, batch entry): scores in 4x2
// register blocks (lanes along the keys), the online softmax (max and sum
// reduced across the lanes, exp2 as a polynomial), P V (lanes along the
// head dimension), the output narrowed on store.
// CHECK: func.func @[[UNIT:__sieve_cpu_attention_unit_[0-9A-F]+]](
// CHECK-SAME: attributes {sieve.cpu_library}
// CHECK: vector.load %{{.*}} : memref<1x1x?x4xf16>, vector<4xf16>
// CHECK: math.fma %{{.*}}, %{{.*}}, %{{.*}} : vector<2xf32>
// CHECK: vector.reduction <maxnumf>, %{{.*}} : vector<2xf32> into f32
// CHECK: math.roundeven %{{.*}} : vector<2xf32>
// CHECK: vector.reduction <add>, %{{.*}} : vector<2xf32> into f32
// CHECK: math.fma %{{.*}}, %{{.*}}, %{{.*}} : vector<4xf32>
// CHECK: arith.truncf %{{.*}} : vector<4xf32> to vector<4xf16>
// CHECK: vector.store %{{.*}} : memref<1x1x?x4xf16>, vector<4xf16>

// Each phase's loop over its units is a library function too (it takes
// the tables and the sequence lengths, and has a C interface: the executor
// calls it); the phase's host function calls it with this op's tables and
// values, and records the call (sieve.host_call) for the executor, which
// makes it itself. Pack takes the key blocks some row reads from a table.
// CHECK: func.func @[[PACKLOOP:__sieve_cpu_pack_[0-9A-F]+]](
// CHECK-SAME: %{{.*}}: memref<?xi32>, %{{.*}}: index, %{{.*}}: index, %[[B:.*]]: index, %[[E:.*]]: index) attributes {llvm.emit_c_interface, sieve.cpu_library}
// CHECK: scf.for %{{.*}} = %[[B]] to %[[E]]
// CHECK: func.call @[[PACK]](
// CHECK-LABEL: func.func @__sieve_cpu0_pack(
// CHECK-SAME: llvm.emit_c_interface
// CHECK-SAME: sieve.host_call = {callee = @[[PACKLOOP]], scalars = array<i64: 4, 4>, tables = [@__sieve_cpu0_packed_key_blocks]}
// CHECK-SAME: sieve.launch = #sieve.launch<pack, grid = [2, 1, 1]
// CHECK-SAME: sieve.variant = "vector"
// CHECK: memref.get_global @__sieve_cpu0_packed_key_blocks : memref<4xi32>
// CHECK: call @[[PACKLOOP]](
// CHECK: func.func @[[LOOP:__sieve_cpu_attention_[0-9A-F]+]](
// CHECK: func.call @[[UNIT]](
// CHECK-LABEL: func.func @__sieve_cpu0_attention(
// CHECK-SAME: sieve.host_call = {callee = @[[LOOP]], scalars = array<i64: 4, 4>, tables = [@__sieve_cpu0_row_heads, @__sieve_cpu0_row_query_blocks, @__sieve_cpu0_row_spans, @__sieve_cpu0_key_blocks]}
// CHECK-SAME: sieve.launch = #sieve.launch<attention, grid = [2, 1, 1]
// CHECK: memref.get_global @__sieve_cpu0_row_heads
// CHECK: call @[[LOOP]](
// IDEMPOTENT-LABEL: func @lower
// IDEMPOTENT-NOT: sieve.block_sparse_attention
func.func @lower(%q: memref<1x1x4x4xf16>, %k: memref<1x1x4x4xf16>, %v: memref<1x1x4x4xf16>, %o: memref<1x1x4x4xf16>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 1, 0>, row_spans = array<i32: 0, 2, 2, 2>, key_blocks = array<i32: 1, 0>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf16>, memref<1x1x4x4xf16>, memref<1x1x4x4xf16>, memref<1x1x4x4xf16>
  return
}
