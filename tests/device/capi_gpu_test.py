"""The C API (runtime/capi/include/sieve/sieve.h) on the lent GPU, through
ctypes and PyTorch tensors: specialized and generic kernels against SDPA
given the same mask as a boolean attn_mask (computed in float64), on the
caller's stream, and the errors a GPU caller can provoke. Run by
tests/device/run.sh; exits non-zero on any failure."""
import ctypes
import math
import os
import sys

import torch
import torch.nn.functional as F

lib = ctypes.CDLL(os.environ.get("SIEVE_LIB", "libsieve_c.so"))
lib.sieve_last_error.restype = ctypes.c_char_p
lib.sieve_status_name.restype = ctypes.c_char_p
DTYPE = {torch.float16: 0, torch.bfloat16: 1, torch.float32: 2}


class Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int),
                ("sizes", ctypes.c_int64 * 4), ("strides", ctypes.c_int64 * 4)]


class Problem(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int64) for n in
                ("batch", "heads_q", "heads_kv", "seq_q", "seq_k", "head_dim")] + [
                    ("dtype", ctypes.c_int), ("causal", ctypes.c_int), ("scale", ctypes.c_double)]


class Mask(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int64) for n in
                ("heads", "query_blocks", "key_blocks", "block_q", "block_k")] + [
                    ("bits", ctypes.c_void_p), ("bits_size", ctypes.c_size_t)]


class Options(ctypes.Structure):
    _fields_ = [("variant", ctypes.c_char_p), ("query_tile", ctypes.c_int64),
                ("key_tile", ctypes.c_int64), ("stages", ctypes.c_int64)]


failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def call(name, *args, expect=0):
    status = getattr(lib, name)(*args)
    if status != expect:
        raise RuntimeError(f"{name}: {lib.sieve_status_name(status).decode()}: "
                           f"{lib.sieve_last_error().decode()}")
    return status


def view(t):
    return Tensor(t.data_ptr(), DTYPE[t.dtype], (ctypes.c_int64 * 4)(*t.shape),
                  (ctypes.c_int64 * 4)(*t.stride()))


def run_case(ctx, B, H, S, D, block, density, causal, dtype, bshd, empty_head):
    gen = torch.Generator().manual_seed(int.from_bytes(os.urandom(4), "little"))
    nb = S // block
    tiles = torch.rand(H, nb, nb, generator=gen) < density
    tiles |= torch.eye(nb, dtype=torch.bool)
    if empty_head:
        tiles[-1] = False
    packed = bytearray((tiles.numel() + 7) // 8)
    for n, kept in enumerate(tiles.flatten().tolist()):
        if kept:
            packed[n // 8] |= 1 << (n % 8)
    bits = (ctypes.c_uint8 * len(packed)).from_buffer(packed)
    mask = Mask(H, nb, nb, block, block, ctypes.addressof(bits), len(packed))
    problem = Problem(B, H, H, S, S, D, DTYPE[dtype], int(causal), 0.0)

    def make():
        if bshd:
            return torch.randn(B, S, H, D, device="cuda", dtype=dtype).transpose(1, 2)
        return torch.randn(B, H, S, D, device="cuda", dtype=dtype)
    q, k, v = make(), make(), make()
    elem = tiles.repeat_interleave(block, 1).repeat_interleave(block, 2).cuda()
    if causal:
        elem &= torch.ones(S, S, dtype=torch.bool, device="cuda").tril()
    ref = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), attn_mask=elem)
    ref = torch.nan_to_num(ref, nan=0.0)  # rows with no kept key are zeros in sieve
    stream = torch.cuda.Stream()
    name = f"B{B} H{H} S{S} D{D} block {block} d{density} causal={causal} {dtype} bshd={bshd}"
    for variant in (None, b"generic"):
        kernel = ctypes.c_void_p()
        opts = Options(variant, 0, 0, 0)
        call("sieve_kernel_compile", ctx, ctypes.byref(problem), ctypes.byref(mask),
             ctypes.byref(opts), ctypes.byref(kernel))
        desc = ctypes.create_string_buffer(256)
        call("sieve_kernel_describe", kernel, desc, 256)
        handle = ctypes.c_void_p()
        if variant:
            call("sieve_mask_create", ctx, ctypes.byref(mask), S, int(causal), ctypes.byref(handle))
        out = torch.full_like(q, float("nan"))
        with torch.cuda.stream(stream):
            call("sieve_attention", kernel, ctypes.byref(view(q)), ctypes.byref(view(k)),
                 ctypes.byref(view(v)), ctypes.byref(view(out)), handle,
                 ctypes.c_void_p(stream.cuda_stream))
        stream.synchronize()
        err = ((out.double() - ref).norm() / ref.norm()).item()
        check(not out.isnan().any().item() and err < 1e-2,
              f"{name} {desc.value.decode().split()[0]}: rel err {err:.2e}")
        if variant:
            call("sieve_mask_destroy", handle)
        call("sieve_kernel_destroy", kernel)


def misuse(ctx):
    H, S, D, block = 2, 256, 64, 128
    packed = bytearray([0xff])
    bits = (ctypes.c_uint8 * 1).from_buffer(packed)
    mask = Mask(H, 2, 2, block, block, ctypes.addressof(bits), 1)
    problem = Problem(1, H, H, S, S, D, DTYPE[torch.bfloat16], 0, 0.0)
    kernel = ctypes.c_void_p()
    call("sieve_kernel_compile", ctx, ctypes.byref(problem), ctypes.byref(mask), None,
         ctypes.byref(kernel))
    q = torch.randn(1, H, S, D, device="cuda", dtype=torch.bfloat16)
    host = torch.randn(1, H, S, D, dtype=torch.bfloat16)
    status = lib.sieve_attention(kernel, ctypes.byref(view(q)), ctypes.byref(view(q)),
                                 ctypes.byref(view(q)), ctypes.byref(view(host)), None, None)
    check(status == 5, "host memory for a GPU kernel is SIEVE_ERROR_WRONG_DEVICE: "
          + lib.sieve_last_error().decode())
    half = torch.randn(1, H, S, D, device="cuda", dtype=torch.float16)
    status = lib.sieve_attention(kernel, ctypes.byref(view(q)), ctypes.byref(view(half)),
                                 ctypes.byref(view(q)), ctypes.byref(view(q)), None, None)
    check(status == 4, "an f16 key for a bf16 kernel is SIEVE_ERROR_DTYPE_MISMATCH: "
          + lib.sieve_last_error().decode())
    generic = ctypes.c_void_p()
    call("sieve_kernel_compile", ctx, ctypes.byref(problem), ctypes.byref(mask),
         ctypes.byref(Options(b"generic", 0, 0, 0)), ctypes.byref(generic))
    out = torch.empty_like(q)
    status = lib.sieve_attention(generic, ctypes.byref(view(q)), ctypes.byref(view(q)),
                                 ctypes.byref(view(q)), ctypes.byref(view(out)), None, None)
    check(status != 0, "a generic kernel without a mask is refused: "
          + lib.sieve_last_error().decode())
    call("sieve_kernel_destroy", generic)
    call("sieve_kernel_destroy", kernel)


def main():
    ctx = ctypes.c_void_p()
    call("sieve_context_create", 2, 0, ctypes.byref(ctx))
    name = ctypes.create_string_buffer(128)
    call("sieve_context_device_name", ctx, name, 128)
    print("device:", name.value.decode())
    run_case(ctx, 2, 4, 1024, 128, 128, 0.3, False, torch.bfloat16, False, True)
    run_case(ctx, 1, 4, 1024, 64, 128, 0.4, True, torch.float16, True, False)
    run_case(ctx, 1, 2, 512, 64, 64, 0.5, False, torch.bfloat16, False, True)
    misuse(ctx)
    call("sieve_context_destroy", ctx)
    print(f"C API GPU test: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
