// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="variant=mma" | FileCheck %s
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="variant=simt" | FileCheck %s --check-prefix=SIMT
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu="chip=sm_90a variant=wgmma query-tile=64 key-tile=64" | FileCheck %s --check-prefix=WGMMA
// RUN: not sieve-opt %s -split-input-file -sieve-lower-to-gpu="variant=generic" -o /dev/null 2>&1 | FileCheck %s --check-prefix=GENERIC

// One (head, query block) cut into two parts of two key blocks each. The
// attention kernel's launch contract declares a workspace of 2 slots x 64
// rows x (64 + 1) f32 = 8320 floats and one arrival counter (1 group x 1
// query tile): 33284 bytes, which the runtime allocates zeroed and passes
// last. There is no other launch: the host function keeps nothing.
// In the kernel the row's slot decides the epilogue: a part normalizes by
// its own sum, stores pairs of f32 and its log2-sum-exp (lg2) into the
// workspace, then the block meets at a barrier and its first thread counts
// it in its group's counter (found by @sieve_slot_groups) with GPU-scope
// fences; an OR-reducing barrier tells the block whether it arrived last,
// and then it merges the group: eight parts a step (16-byte vectors, all
// loads before the math), a running max of their lse, each part weighed
// by exp2(lse - max).
// CHECK-LABEL: func @two_parts
// CHECK-NOT: memref.alloca
// CHECK-NOT: gpu.launch_func
// CHECK: memref.global "private" constant @sieve_row_slots : memref<2xi32> = dense<[0, 1]>
// CHECK: memref.global "private" constant @sieve_split_groups : memref<4xi32> = dense<[0, 0, 0, 2]>
// CHECK: memref.global "private" constant @sieve_slot_groups : memref<2xi32> = dense<0>
// CHECK: gpu.func @sieve_attention({{.*}}, %[[ARG:arg[0-9]+]]: memref<?xf32>) kernel
// CHECK-SAME: split_kv=1 rows into 2 parts
// CHECK-SAME: sieve.launch = #sieve.launch<attention, grid = [2, 1, 1], block = [128, 1, 1], shared = 40960, workspace = 33284, align = 16, params = [#sieve.param<query.allocated>, #sieve.param<query.aligned>, #sieve.param<query.offset>, #sieve.param<query.size[0]>, #sieve.param<query.size[1]>, #sieve.param<query.size[2]>, #sieve.param<query.size[3]>, #sieve.param<query.stride[0]>, #sieve.param<query.stride[1]>, #sieve.param<query.stride[2]>, #sieve.param<query.stride[3]>, #sieve.param<key.allocated>, #sieve.param<key.aligned>, #sieve.param<key.offset>, #sieve.param<key.size[0]>, #sieve.param<key.size[1]>, #sieve.param<key.size[2]>, #sieve.param<key.size[3]>, #sieve.param<key.stride[0]>, #sieve.param<key.stride[1]>, #sieve.param<key.stride[2]>, #sieve.param<key.stride[3]>, #sieve.param<value.allocated>, #sieve.param<value.aligned>, #sieve.param<value.offset>, #sieve.param<value.size[0]>, #sieve.param<value.size[1]>, #sieve.param<value.size[2]>, #sieve.param<value.size[3]>, #sieve.param<value.stride[0]>, #sieve.param<value.stride[1]>, #sieve.param<value.stride[2]>, #sieve.param<value.stride[3]>, #sieve.param<out.allocated>, #sieve.param<out.aligned>, #sieve.param<out.offset>, #sieve.param<out.size[0]>, #sieve.param<out.size[1]>, #sieve.param<out.size[2]>, #sieve.param<out.size[3]>, #sieve.param<out.stride[0]>, #sieve.param<out.stride[1]>, #sieve.param<out.stride[2]>, #sieve.param<out.stride[3]>, #sieve.param<workspace.allocated>, #sieve.param<workspace.aligned>, #sieve.param<workspace.offset>, #sieve.param<workspace.size[0]>, #sieve.param<workspace.stride[0]>]>
// CHECK: %[[SLOTS:.*]] = memref.get_global @sieve_row_slots
// CHECK: %[[SLOT:.*]] = memref.load %[[SLOTS]]
// CHECK: %[[PART:.*]] = arith.cmpi sge, %[[SLOT]], %c0_i32
// CHECK: scf.if %[[PART]] {
// CHECK: llvm.nvvm.lg2.approx.ftz.f
// CHECK: vector.store {{.*}}, %[[ARG]][{{.*}}] {alignment = 8 : i64} : memref<?xf32>, vector<2xf32>
// CHECK: memref.store {{.*}}, %[[ARG]][{{.*}}] : memref<?xf32>
// CHECK: nvvm.barrier id = %{{.*}} number_of_threads = %c128_i32
// CHECK: memref.get_global @sieve_slot_groups
// CHECK: memref.extract_aligned_pointer_as_index %[[ARG]]
// CHECK: llvm.inline_asm has_side_effects {{.*}}fence.acq_rel.gpu;{{.*}}atom.relaxed.gpu.add.u32 $0, [$1], 1;
// CHECK: %[[LAST:.*]] = llvm.call_intrinsic "llvm.nvvm.barrier.cta.red.or.aligned.count"
// CHECK: scf.if %[[LAST]] {
// CHECK-COUNT-8: vector.load %[[ARG]][{{.*}}] {alignment = 16 : i64} : memref<?xf32>, vector<4xf32>
// CHECK: arith.maximumf
// CHECK: llvm.nvvm.ex2.approx.ftz.f
// CHECK: math.fma
// CHECK: } else {
// CHECK-NOT: gpu.func @sieve_combine

// The scalar body stores its part row by row (one thread per query).
// SIMT-LABEL: func @two_parts
// SIMT-NOT: gpu.launch_func
// SIMT: gpu.func @sieve_attention({{.*}}: memref<?xf32>)
// SIMT-SAME: split_kv=1 rows into 2 parts
// SIMT-SAME: sieve.launch = #sieve.launch<attention, grid = [2, 1, 1], block = [64, 1, 1], shared = 0, workspace = 33284, align = 0, params = [#sieve.param<query.allocated>, #sieve.param<query.aligned>, #sieve.param<query.offset>, #sieve.param<query.size[0]>, #sieve.param<query.size[1]>, #sieve.param<query.size[2]>, #sieve.param<query.size[3]>, #sieve.param<query.stride[0]>, #sieve.param<query.stride[1]>, #sieve.param<query.stride[2]>, #sieve.param<query.stride[3]>, #sieve.param<key.allocated>, #sieve.param<key.aligned>, #sieve.param<key.offset>, #sieve.param<key.size[0]>, #sieve.param<key.size[1]>, #sieve.param<key.size[2]>, #sieve.param<key.size[3]>, #sieve.param<key.stride[0]>, #sieve.param<key.stride[1]>, #sieve.param<key.stride[2]>, #sieve.param<key.stride[3]>, #sieve.param<value.allocated>, #sieve.param<value.aligned>, #sieve.param<value.offset>, #sieve.param<value.size[0]>, #sieve.param<value.size[1]>, #sieve.param<value.size[2]>, #sieve.param<value.size[3]>, #sieve.param<value.stride[0]>, #sieve.param<value.stride[1]>, #sieve.param<value.stride[2]>, #sieve.param<value.stride[3]>, #sieve.param<out.allocated>, #sieve.param<out.aligned>, #sieve.param<out.offset>, #sieve.param<out.size[0]>, #sieve.param<out.size[1]>, #sieve.param<out.size[2]>, #sieve.param<out.size[3]>, #sieve.param<out.stride[0]>, #sieve.param<out.stride[1]>, #sieve.param<out.stride[2]>, #sieve.param<out.stride[3]>, #sieve.param<workspace.allocated>, #sieve.param<workspace.aligned>, #sieve.param<workspace.offset>, #sieve.param<workspace.size[0]>, #sieve.param<workspace.stride[0]>]>
// SIMT: llvm.nvvm.lg2.approx.ftz.f
// SIMT: memref.store {{.*}}, %arg4[{{.*}}] : memref<?xf32>
// Every thread meets the arrival, past the block's queries or not.
// SIMT: llvm.call_intrinsic "llvm.nvvm.barrier.cta.red.or.aligned.count"
// SIMT-NOT: gpu.func @sieve_combine

// The Hopper body: the workspace comes after the three TMA descriptors.
// WGMMA-LABEL: func @two_parts
// WGMMA-NOT: gpu.launch_func
// WGMMA: gpu.func @sieve_attention({{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: memref<?xf32>) kernel
// WGMMA-SAME: split_kv=1 rows into 2 parts
// WGMMA-SAME: sieve.launch = #sieve.launch<attention, grid = [2, 1, 1], block = [256, 1, 1], shared = 41984, workspace = 33284, align = 16, params = [#sieve.param<query.allocated>, #sieve.param<query.aligned>, #sieve.param<query.offset>, #sieve.param<query.size[0]>, #sieve.param<query.size[1]>, #sieve.param<query.size[2]>, #sieve.param<query.size[3]>, #sieve.param<query.stride[0]>, #sieve.param<query.stride[1]>, #sieve.param<query.stride[2]>, #sieve.param<query.stride[3]>, #sieve.param<key.allocated>, #sieve.param<key.aligned>, #sieve.param<key.offset>, #sieve.param<key.size[0]>, #sieve.param<key.size[1]>, #sieve.param<key.size[2]>, #sieve.param<key.size[3]>, #sieve.param<key.stride[0]>, #sieve.param<key.stride[1]>, #sieve.param<key.stride[2]>, #sieve.param<key.stride[3]>, #sieve.param<value.allocated>, #sieve.param<value.aligned>, #sieve.param<value.offset>, #sieve.param<value.size[0]>, #sieve.param<value.size[1]>, #sieve.param<value.size[2]>, #sieve.param<value.size[3]>, #sieve.param<value.stride[0]>, #sieve.param<value.stride[1]>, #sieve.param<value.stride[2]>, #sieve.param<value.stride[3]>, #sieve.param<out.allocated>, #sieve.param<out.aligned>, #sieve.param<out.offset>, #sieve.param<out.size[0]>, #sieve.param<out.size[1]>, #sieve.param<out.size[2]>, #sieve.param<out.size[3]>, #sieve.param<out.stride[0]>, #sieve.param<out.stride[1]>, #sieve.param<out.stride[2]>, #sieve.param<out.stride[3]>, #sieve.param<query.tensor_map[64x64]>, #sieve.param<key.tensor_map[64x64]>, #sieve.param<value.tensor_map[64x64]>, #sieve.param<workspace.allocated>, #sieve.param<workspace.aligned>, #sieve.param<workspace.offset>, #sieve.param<workspace.size[0]>, #sieve.param<workspace.stride[0]>]>
// The consumers (one warp group here) store the part and arrive, at a
// named barrier of their own (1 is their group's).
// WGMMA: llvm.nvvm.lg2.approx.ftz.f
// WGMMA: nvvm.barrier id = %[[ID:c2_i32[_0-9]*]] number_of_threads = %c128_i32
// WGMMA: atom.relaxed.gpu.add.u32
// WGMMA: llvm.call_intrinsic "llvm.nvvm.barrier.cta.red.or.aligned.count"(%[[ID]], %c128_i32
// WGMMA-NOT: griddepcontrol
// WGMMA-NOT: gpu.func @sieve_combine

// The generic kernel reads its mask at launch: split rows are refused.
// GENERIC: error: 'sieve.block_sparse_attention' op variant=generic reads its mask at launch and cannot run split rows
func.func @two_parts(%q: memref<1x1x64x64xf16>, %k: memref<1x1x256x64xf16>, %v: memref<1x1x256x64xf16>, %o: memref<1x1x64x64xf16>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 0, 0>, row_spans = array<i32: 0, 2, 2, 4>, key_blocks = array<i32: 0, 1, 2, 3>, row_slots = array<i32: 0, 1>, split_groups = array<i32: 0, 0, 0, 2>, scale = 0.125 : f32, block_q = 64, block_k = 64} : memref<1x1x64x64xf16>, memref<1x1x256x64xf16>, memref<1x1x256x64xf16>, memref<1x1x64x64xf16>
  return
}
