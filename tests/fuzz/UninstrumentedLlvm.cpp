//===- UninstrumentedLlvm.cpp - ASan next to an uninstrumented LLVM -------===//
//
// LLVM's BumpPtrAllocator poisons the free part of its slabs when the code
// including Allocator.h is built with ASan, and the inline copies of it in
// sieve's instrumented code share allocators with the copies compiled into
// Debian's (uninstrumented) LLVM and MLIR, which never unpoison. MLIR then
// writes into memory sieve's copy poisoned, a false use-after-poison in
// MLIRContext's constructor. Ignoring manual poisoning keeps every other
// ASan check; the targets that link MLIR get this default baked in so that
// a plain `target input` reproduces as fuzz.sh and ctest run it.
//
//===----------------------------------------------------------------------===//

extern "C" const char *__asan_default_options() { return "allow_user_poisoning=0"; }
