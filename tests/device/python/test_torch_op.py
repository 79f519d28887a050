"""The Python module on a GPU: sieve.attention and torch.ops.sieve.attention
against SDPA in float64 (the mask as a boolean attn_mask), on random inputs
(never zeros) with outputs poisoned with NaN first; BSHD views, GQA,
Sq != Sk, causal; a torch.compile'd module (fullgraph=True) calling the op;
launches on a side stream; CUDA-graph capture and replay of the forward and
of a training step; threshold mode's forward and autograd through the hard
threshold; and the errors a GPU caller can provoke.

    PYTHONPATH=<package dir> python3 -m pytest -q tests/device/python
    PYTHONPATH=<package dir> python3 tests/device/python/test_torch_op.py

(tests/device/run.sh does the first with the carried extension.) Without
pytest, running the file calls each test_* function in turn.
"""

import contextlib
import os
import re
import sys

import torch
import torch.nn.functional as F

import sieve
import sieve.torch_op

TOLERANCE = 1e-2  # f16/bf16 inputs, f32 accumulation, against float64

CASES = [
    # name, batch, heads_q, heads_kv, seq_q, seq_k, head_dim, block_q, block_k, density,
    # causal, dtype, bshd
    ("square64-bf16", 2, 8, 8, 512, 512, 64, 64, 64, 0.3, False, torch.bfloat16, False),
    ("d128-f16-causal-bshd", 2, 4, 4, 512, 512, 128, 128, 128, 0.5, True, torch.float16, True),
    ("gqa-bshd-causal", 1, 8, 2, 384, 384, 64, 64, 64, 0.4, True, torch.bfloat16, True),
    ("sq-ne-sk-partial", 1, 4, 4, 200, 456, 64, 64, 32, 0.5, False, torch.float16, False),
    ("mqa-ragged-d128", 2, 4, 1, 300, 260, 128, 64, 128, 0.6, True, torch.bfloat16, True),
]


class Skip(Exception):
    pass


def require_gpu():
    if not torch.cuda.is_available():
        # tests/device/run.sh sets this on the lent GPU: there a skip would
        # count a case the GPU can run as done.
        if os.environ.get("SIEVE_REQUIRE_GPU") == "1":
            raise AssertionError("SIEVE_REQUIRE_GPU=1 but torch sees no CUDA device")
        try:
            import pytest
        except ImportError:
            raise Skip("no CUDA device")
        pytest.skip("no CUDA device")


@contextlib.contextmanager
def raises(kind, pattern):
    """pytest.raises(kind, match=pattern), without needing pytest."""
    try:
        yield
    except kind as error:
        assert re.search(pattern, str(error)), f"{error!r} does not match {pattern!r}"
    else:
        raise AssertionError(f"{kind.__name__} not raised")


def random_qkv(batch, heads_q, heads_kv, seq_q, seq_k, head_dim, dtype, bshd, seed):
    generator = torch.Generator(device="cuda").manual_seed(seed)

    def make(heads, seq):
        shape = (batch, seq, heads, head_dim) if bshd else (batch, heads, seq, head_dim)
        t = torch.randn(shape, device="cuda", dtype=dtype, generator=generator)
        return t.transpose(1, 2) if bshd else t

    return make(heads_q, seq_q), make(heads_kv, seq_k), make(heads_kv, seq_k)


def allowed_elements(mask, seq_q, seq_k, causal):
    tiles = torch.from_numpy(mask.to_numpy()).cuda()
    allowed = tiles.repeat_interleave(mask.block_q, 1).repeat_interleave(mask.block_k, 2)
    allowed = allowed[:, :seq_q, :seq_k]
    if causal:  # top-left aligned, as sieve's causal
        allowed = allowed & torch.ones(seq_q, seq_k, dtype=torch.bool, device="cuda").tril()
    return allowed


def reference(q, k, v, mask, causal, scale=None):
    """SDPA in float64 with the mask as attn_mask; rows with no kept key are
    zero in sieve (SDPA makes them NaN)."""
    group = q.shape[1] // k.shape[1]
    k64 = k.double().repeat_interleave(group, 1)
    v64 = v.double().repeat_interleave(group, 1)
    allowed = allowed_elements(mask, q.shape[2], k.shape[2], causal)
    out = F.scaled_dot_product_attention(q.double(), k64, v64, attn_mask=allowed, scale=scale)
    return torch.where(allowed.any(-1)[None, :, :, None], out, 0.0)


def relative_error(got, want):
    return ((got.double() - want).norm() / want.norm()).item()


def poison_allocator(like):
    """Leaves NaN in the caching allocator's next block of like's size, so
    an op that allocates its own output and fails to write it is caught."""
    torch.full_like(like, float("nan"))
    torch.cuda.synchronize()


def case_mask(case, seed):
    _, _, heads_q, _, seq_q, seq_k, _, block_q, block_k, density, *_ = case
    return sieve.BlockMask.random(heads_q, -(-seq_q // block_q), -(-seq_k // block_k), block_q,
                                  block_k, density, seed=seed, keep_diagonal=True)


def test_attention_and_op_match_sdpa():
    require_gpu()
    for seed, case in enumerate(CASES):
        name, b, hq, hkv, sq, sk, d, _, _, _, causal, dtype, bshd = case
        mask = case_mask(case, seed)
        q, k, v = random_qkv(b, hq, hkv, sq, sk, d, dtype, bshd, seed)
        want = reference(q, k, v, mask, causal)

        out = torch.full_like(q, float("nan"))
        assert sieve.attention(q, k, v, mask, causal=causal, out=out) is out
        torch.cuda.synchronize()
        assert not out.isnan().any(), name
        error = relative_error(out, want)
        print(f"{name}: sieve.attention rel err {error:.2e}")
        assert error < TOLERANCE, name

        poison_allocator(q)
        got = torch.ops.sieve.attention(q, k, v, sieve.torch_op.register_mask(mask), causal, None)
        torch.cuda.synchronize()
        assert got.shape == q.shape and got.dtype == q.dtype and not got.isnan().any(), name
        error = relative_error(got, want)
        print(f"{name}: torch.ops.sieve.attention rel err {error:.2e}")
        assert error < TOLERANCE, name


def test_autograd_matches_sdpa_autograd():
    """loss.backward() through torch.ops.sieve.attention against autograd of
    float64 SDPA with the same boolean mask: dq, dk, dv (GQA summed over
    the query heads of a key head) on every case, bshd views included."""
    require_gpu()
    for seed, case in enumerate(CASES):
        name, b, hq, hkv, sq, sk, d, _, _, _, causal, dtype, bshd = case
        mask = case_mask(case, seed + 100)
        q, k, v = (t.detach().requires_grad_() for t in random_qkv(b, hq, hkv, sq, sk, d, dtype,
                                                                     bshd, seed + 100))
        dout = torch.randn(q.shape, device="cuda", dtype=dtype)
        q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
        reference(q64, k64, v64, mask, causal).backward(dout.double())
        poison_allocator(q)
        out = torch.ops.sieve.attention(q, k, v, sieve.torch_op.register_mask(mask), causal, None)
        out.backward(dout)
        torch.cuda.synchronize()
        for got, want, what in ((q.grad, q64.grad, "dq"), (k.grad, k64.grad, "dk"),
                                (v.grad, v64.grad, "dv")):
            assert got.shape == want.shape and not got.isnan().any(), (name, what)
            error = ((got.double() - want).abs().max() / want.abs().max()).item()
            print(f"{name}: {what} max rel err {error:.2e}")
            assert error < TOLERANCE, (name, what)
        assert relative_error(out, reference(q.detach(), k.detach(), v.detach(), mask,
                                             causal)) < TOLERANCE


def gap_thresholds(q, k, scale):
    """[Hq] f32 thresholds on q's device: head h % 4 == 0 near its 0.8
    quantile, 1 +inf (every score dropped: zeros), 2 -inf (none dropped), 3
    near its 0.2 quantile; each in the widest gap between neighbouring
    scores there, so f32 rounding cannot move a score across it."""
    group = q.shape[1] // k.shape[1]
    theta = []
    for h in range(q.shape[1]):
        if h % 4 in (1, 2):
            theta.append(float("inf") if h % 4 == 1 else float("-inf"))
            continue
        scores = torch.einsum("bqd,bkd->bqk", q[:, h].double(),
                              k[:, h // group].double()) * scale
        x = torch.sort(scores.flatten()).values
        at = int((0.8 if h % 4 == 0 else 0.2) * (x.numel() - 1))
        best = at - 5 + int(torch.argmax(x[at - 4:at + 7] - x[at - 5:at + 6]))
        theta.append(float(0.5 * (x[best] + x[best + 1])))
    return torch.tensor(theta, dtype=torch.float32, device=q.device)


def reference_thresholds(q, k, v, mask, causal, theta):
    """reference() with threshold mode, in float64: a score under its
    head's threshold is masked too (the mask is a constant of the autograd,
    as the hard threshold is of sieve's). Written out rather than through
    SDPA, whose rows with no kept key (a head whose threshold drops all)
    are NaN, and NaN gradients would reach the shared keys and values."""
    group = q.shape[1] // k.shape[1]
    k64 = k.double().repeat_interleave(group, 1)
    v64 = v.double().repeat_interleave(group, 1)
    scores = torch.einsum("bhqd,bhkd->bhqk", q.double(), k64) / q.shape[-1] ** 0.5
    with torch.no_grad():
        allowed = allowed_elements(mask, q.shape[2], k.shape[2], causal)[None]
        allowed = allowed & (scores >= theta.double()[None, :, None, None])
    # exp(-1e300 - max) is exactly 0; a row with nothing kept gets finite
    # weights that the final select zeroes, gradients included.
    weights = torch.softmax(torch.where(allowed, scores, -1e300), dim=-1)
    out = torch.einsum("bhqk,bhkd->bhqd", weights, v64)
    return torch.where(allowed.any(-1)[..., None], out, 0.0)


def test_threshold_mode_autograd_matches_float64():
    """torch.ops.sieve.attention with thresholds, forward and backward,
    against float64 SDPA under the mask and the thresholds; the
    all-dropped heads are exact zeros and the thresholds get no gradient."""
    require_gpu()
    for seed, case in enumerate(CASES):
        name, b, hq, hkv, sq, sk, d, _, _, _, causal, dtype, bshd = case
        mask = case_mask(case, seed + 200)
        q, k, v = (t.detach().requires_grad_() for t in random_qkv(b, hq, hkv, sq, sk, d, dtype,
                                                                     bshd, seed + 200))
        theta = gap_thresholds(q.detach(), k.detach(), 1 / d ** 0.5).requires_grad_()
        dout = torch.randn(q.shape, device="cuda", dtype=dtype)
        q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
        want = reference_thresholds(q64, k64, v64, mask, causal, theta.detach())
        want.backward(dout.double())
        poison_allocator(q)
        handle = sieve.torch_op.register_mask(mask)
        with torch.no_grad():
            inference = torch.ops.sieve.attention(q, k, v, handle, causal, thresholds=theta)
        out = torch.ops.sieve.attention(q, k, v, handle, causal, thresholds=theta)
        out.backward(dout)
        torch.cuda.synchronize()
        for got, what in ((inference, "inference"), (out, "training forward")):
            assert not got.isnan().any(), (name, what)
            assert torch.all(got[:, 1::4] == 0), (name, what, "all-dropped heads")
            error = relative_error(got.detach(), want.detach())
            print(f"{name}: thresholds {what} rel err {error:.2e}")
            assert error < TOLERANCE, (name, what)
        for got, want_grad, what in ((q.grad, q64.grad, "dq"), (k.grad, k64.grad, "dk"),
                                     (v.grad, v64.grad, "dv")):
            assert not got.isnan().any(), (name, what)
            error = ((got.double() - want_grad).abs().max() / want_grad.abs().max()).item()
            print(f"{name}: thresholds {what} max rel err {error:.2e}")
            assert error < TOLERANCE, (name, what)
        assert torch.all(q.grad[:, 1::4] == 0), name
        assert theta.grad is None, name


def test_training_step_through_the_module():
    """A module with the op trains: gradients reach a projection's weights
    and a step lowers the loss."""
    require_gpu()
    torch.manual_seed(3)
    mask = sieve.BlockMask.random(4, 4, 4, 64, 64, 0.5, seed=5, keep_diagonal=True)
    attention = sieve.torch_op.SieveAttention(mask, causal=True)
    project = torch.nn.Linear(64, 3 * 64, device="cuda", dtype=torch.bfloat16)
    x = torch.randn(2, 4, 256, 64, device="cuda", dtype=torch.bfloat16)
    target = torch.randn_like(x)
    optimizer = torch.optim.SGD(project.parameters(), lr=0.5)
    losses = []
    for _ in range(5):
        q, k, v = project(x).chunk(3, dim=-1)
        loss = (attention(q, k, v).float() - target.float()).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        assert project.weight.grad is not None and project.weight.grad.abs().sum() > 0
        optimizer.step()
        losses.append(loss.item())
    print(f"training losses {['%.4f' % l for l in losses]}")
    assert losses[-1] < losses[0]


def test_empty_heads_are_zero_and_scale_applies():
    require_gpu()
    tiles = torch.rand(4, 4, 4) < 0.5
    tiles[1] = False
    tiles[0] = True
    mask = sieve.BlockMask(tiles.numpy(), 64, 64)
    q, k, v = random_qkv(2, 4, 4, 256, 256, 64, torch.float16, False, 7)
    out = torch.full_like(q, float("nan"))
    sieve.attention(q, k, v, mask, scale=0.07, out=out)
    torch.cuda.synchronize()
    assert (out[:, 1] == 0).all()
    assert relative_error(out, reference(q, k, v, mask, False, scale=0.07)) < TOLERANCE


def test_compiled_module_fullgraph():
    """torch.compile traces through the op (its fake implementation) with
    no graph break; the compiled module matches eager and SDPA."""
    require_gpu()
    mask = sieve.BlockMask.random(8, 8, 8, 64, 64, 0.3, seed=3, keep_diagonal=True)

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = torch.nn.Linear(512, 3 * 512)
            self.proj = torch.nn.Linear(512, 512)
            self.attention = sieve.torch_op.SieveAttention(mask, causal=True)

        def forward(self, x):
            b, s, dim = x.shape
            q, k, v = (t.transpose(1, 2) for t in self.qkv(x).view(b, s, 3, 8, 64).unbind(2))
            attended = self.attention(q, k, v)  # q, k, v: BSHD storage seen as BHSD views
            return self.proj(attended.transpose(1, 2).reshape(b, s, dim)), attended

    torch.manual_seed(0)
    block = Block().cuda().to(torch.bfloat16).eval()
    compiled = torch.compile(block, fullgraph=True)
    x = torch.randn(2, 512, 512, device="cuda", dtype=torch.bfloat16)
    with torch.no_grad():
        eager, _ = block(x)
        poison_allocator(torch.empty(2, 8, 512, 64, device="cuda", dtype=torch.bfloat16))
        got, attended = compiled(x)
        q, k, v = (t.transpose(1, 2) for t in block.qkv(x).view(2, 512, 3, 8, 64).unbind(2))
    torch.cuda.synchronize()
    assert not got.isnan().any() and not attended.isnan().any()
    error = relative_error(attended, reference(q, k, v, mask, True))
    print(f"torch.compile(fullgraph=True): attention rel err {error:.2e}, output vs eager "
          f"{relative_error(got, eager.double()):.2e}")
    assert error < TOLERANCE
    assert relative_error(got, eager.double()) < TOLERANCE


def test_side_stream_and_kernel_reuse():
    """Work goes on the caller's current stream: inputs made on a side
    stream are read after they are written, without synchronizing."""
    require_gpu()
    mask = sieve.BlockMask.random(4, 8, 8, 64, 64, 0.4, seed=5, keep_diagonal=True)
    kernel = sieve.compile(mask, batch=2, heads_q=4, heads_kv=4, seq_q=512, seq_k=512,
                           head_dim=64, dtype=torch.bfloat16, device="cuda")
    assert kernel.backend == "cuda" and kernel.variant in ("wgmma", "mma")
    assert kernel.warnings == []
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        torch.cuda._sleep(10_000_000)  # the stream is busy when q is made
        q, k, v = random_qkv(2, 4, 4, 512, 512, 64, torch.bfloat16, False, 11)
        out = kernel(q, k, v)
        again = kernel(q * 2, k, v)
    stream.synchronize()
    assert relative_error(out, reference(q, k, v, mask, False)) < TOLERANCE
    assert relative_error(again, reference(q * 2, k, v, mask, False)) < TOLERANCE
    explicit = kernel(q, k, v, stream=torch.cuda.current_stream())
    torch.cuda.synchronize()
    assert relative_error(explicit, reference(q, k, v, mask, False)) < TOLERANCE


def test_cuda_graph_replays_inference_and_training():
    """torch.cuda.graph captures the ops after a warm-up (the warm-up loads
    the module and uploads the row tables, synchronous copies that a
    capture refuses): the forward, and a training step's forward and
    autograd.grad, whose split-KV workspace or backward scratch is
    allocated on the stream (a graph allocation node). Each replay, on new
    inputs copied into the captured tensors, against float64; the captured
    outputs are poisoned before each replay."""
    require_gpu()
    case = CASES[4]  # mqa-ragged-d128: GQA, causal, BSHD views, partial tiles
    name, b, hq, hkv, sq, sk, d, _, _, _, causal, dtype, bshd = case
    mask = case_mask(case, 300)
    handle = sieve.torch_op.register_mask(mask)
    q, k, v = (t.detach().requires_grad_() for t in random_qkv(b, hq, hkv, sq, sk, d, dtype,
                                                                 bshd, 300))
    dout = torch.randn(q.shape, device="cuda", dtype=dtype)

    def step():
        out = torch.ops.sieve.attention(q, k, v, handle, causal, None)
        return (out,) + torch.autograd.grad(out, (q, k, v), dout)

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            step()
            with torch.no_grad():
                torch.ops.sieve.attention(q, k, v, handle, causal, None)
    torch.cuda.current_stream().wait_stream(side)
    training, inference = torch.cuda.CUDAGraph(), torch.cuda.CUDAGraph()
    with torch.cuda.graph(training):
        captured = step()
    with torch.no_grad(), torch.cuda.graph(inference):
        captured_out = torch.ops.sieve.attention(q, k, v, handle, causal, None)

    for seed in (301, 302):
        fresh = random_qkv(b, hq, hkv, sq, sk, d, dtype, bshd, seed)
        with torch.no_grad():
            for target, source in zip((q, k, v), fresh):
                target.copy_(source)
            for t in captured + (captured_out,):
                t.fill_(float("nan"))
        training.replay()
        inference.replay()
        torch.cuda.synchronize()
        q64, k64, v64 = (t.detach().double().requires_grad_() for t in fresh)
        want = reference(q64, k64, v64, mask, causal)
        want.backward(dout.double())
        for got, expected, what in ((captured[0], want.detach(), "out (training)"),
                                    (captured_out, want.detach(), "out (inference)"),
                                    (captured[1], q64.grad, "dq"), (captured[2], k64.grad, "dk"),
                                    (captured[3], v64.grad, "dv")):
            assert not got.isnan().any(), (name, seed, what)
            error = ((got.double() - expected).abs().max() / expected.abs().max()).item()
            print(f"{name} graph replay {seed}: {what} max rel err {error:.2e}")
            assert error < TOLERANCE, (name, seed, what)


def test_generic_variant():
    require_gpu()
    mask = sieve.BlockMask.random(4, 4, 4, 64, 64, 0.5, seed=9, keep_diagonal=True)
    kernel = sieve.compile(mask, batch=1, heads_q=4, heads_kv=4, seq_q=256, seq_k=256,
                           head_dim=64, dtype="f16", causal=True, device="cuda", variant="generic")
    q, k, v = random_qkv(1, 4, 4, 256, 256, 64, torch.float16, True, 13)
    out = torch.full_like(q, float("nan"))
    kernel(q, k, v, out=out)
    torch.cuda.synchronize()
    assert kernel.variant == "generic"
    assert relative_error(out, reference(q, k, v, mask, True)) < TOLERANCE


def test_variant_says_which_body_runs():
    """No silent cliff: where `auto` runs f16/bf16 on the scalar simt body
    (a head dim no tensor-core body takes), Kernel.variant says so and
    Kernel.warnings says why each tensor-core body declined; a kernel on a
    tensor-core body (calibration included) warns of nothing, and neither
    does naming the simt body."""
    require_gpu()
    mask = sieve.BlockMask.random(2, 4, 4, 64, 64, 0.5, seed=3, keep_diagonal=True)
    shape = dict(batch=1, heads_q=2, heads_kv=2, seq_q=256, seq_k=256, device="cuda")
    calibrate = sieve.compile(mask, **shape, head_dim=64, dtype="f16", calibrate=True)
    assert calibrate.variant in ("mma", "wgmma"), calibrate.variant
    assert calibrate.warnings == []
    d40 = sieve.compile(mask, **shape, head_dim=40, dtype="bf16")
    assert d40.variant == "simt"
    assert len(d40.warnings) == 1
    assert "runs on the scalar simt body" in d40.warnings[0]
    assert "mma needs a head dim that is a multiple of 16" in d40.warnings[0]
    q, k, v = random_qkv(1, 2, 2, 256, 256, 40, torch.bfloat16, False, 17)
    out = d40(q, k, v)
    torch.cuda.synchronize()
    assert relative_error(out, reference(q, k, v, mask, False)) < TOLERANCE
    named = sieve.compile(mask, **shape, head_dim=64, dtype="f16", calibrate=True,
                          variant="simt")
    assert named.variant == "simt" and named.warnings == []


def test_cupy_arrays():
    require_gpu()
    try:
        import cupy
    except ImportError:
        print("cupy not installed: skipped")
        return
    mask = sieve.BlockMask.random(2, 4, 4, 64, 64, 0.5, seed=15, keep_diagonal=True)
    q, k, v = random_qkv(1, 2, 2, 256, 256, 64, torch.float16, True, 17)
    cq, ck, cv = (cupy.from_dlpack(t) for t in (q, k, v))
    out = sieve.attention(cq, ck, cv, mask)
    assert isinstance(out, cupy.ndarray)
    cupy.cuda.get_current_stream().synchronize()
    got = torch.from_dlpack(out)
    assert relative_error(got, reference(q, k, v, mask, False)) < TOLERANCE


def test_errors():
    require_gpu()
    mask = sieve.BlockMask.random(4, 4, 4, 64, 64, 0.5, seed=19, keep_diagonal=True)
    shape = dict(batch=1, heads_q=4, heads_kv=4, seq_q=256, seq_k=256, head_dim=64)
    kernel = sieve.compile(mask, **shape, dtype="bf16", device="cuda")
    q, k, v = random_qkv(1, 4, 4, 256, 256, 64, torch.bfloat16, False, 21)

    # Host tensors to a CUDA kernel.
    with raises(sieve.WrongDeviceError, r"tensor 'query' is in host memory but the kernel "
                r"runs on the GPU"):
        kernel(q.cpu(), k.cpu(), v.cpu(), out=torch.empty_like(q))
    with raises(sieve.WrongDeviceError, r"'key' is in host memory"):
        sieve.attention(q, k.cpu(), v, mask)
    # Wrong dtypes: float64 anywhere, mixed half types.
    with raises(sieve.DTypeMismatchError, r"q is float64; sieve takes float32, float16 or "
                r"bfloat16"):
        kernel(q.double(), k, v)
    with raises(TypeError, r"v is float64"):
        sieve.attention(q, k, v.double(), mask)
    with raises(sieve.DTypeMismatchError, r"tensor 'key' is f16, the kernel was compiled for "
                r"bf16"):
        kernel(q, k.half(), v)
    # The GPU kernels need the head dimension contiguous.
    wide = torch.randn(1, 4, 256, 128, device="cuda", dtype=torch.bfloat16)
    with raises(sieve.InvalidArgumentError, r"tensor 'query' has stride 2 on the head "
                r"dimension; the GPU kernel needs it contiguous"):
        kernel(wide[..., ::2], k, v, out=torch.empty_like(q))
    # Shapes and masks.
    with raises(sieve.ShapeMismatchError, r"tensor 'value' has shape \[1, 4, 128, 64\], "
                r"expected \[1, 4, 256, 64\]"):
        kernel(q, k, v[:, :, :128])
    with raises(sieve.ShapeMismatchError, r"mask is \[4, 4, 4\]"):
        sieve.attention(q[:, :2], k[:, :2], v[:, :2], mask)
    with raises(sieve.InvalidArgumentError, r"mask handle 999999 was not made by "
                r"sieve.torch_op.register_mask"):
        torch.ops.sieve.attention(q, k, v, 999999, False, None)
    with raises(sieve.InvalidArgumentError, "stream must be an int"):
        kernel(q, k, v, stream="default")
    # Threshold mode: the thresholds go on the kernel's device, as f32 [Hq].
    thresholds = sieve.compile(mask, **shape, dtype="bf16", device="cuda", thresholds=True)
    theta = torch.zeros(4, device="cuda")
    with raises(sieve.WrongDeviceError, r"thresholds is in cpu memory but the kernel runs on "
                r"the GPU"):
        thresholds(q, k, v, thresholds=theta.cpu())
    with raises(sieve.ShapeMismatchError, r"thresholds has shape \[3\], expected \[4\]"):
        thresholds(q, k, v, thresholds=theta[:3])
    with raises(sieve.DTypeMismatchError, r"thresholds is bfloat16, expected float32"):
        thresholds(q, k, v, thresholds=theta.bfloat16())
    with raises(sieve.InvalidArgumentError, r"thresholds .* is missing"):
        thresholds(q, k, v)
    with raises(sieve.InvalidArgumentError, r"thresholds given to a kernel compiled without"):
        kernel(q, k, v, thresholds=theta)


def main():
    failed = 0
    for name, test in sorted((n, f) for n, f in globals().items() if n.startswith("test_")):
        try:
            test()
            print(f"PASS {name}")
        except Skip as skip:
            print(f"SKIP {name}: {skip}")
        except Exception as error:  # report every test, then fail
            failed += 1
            print(f"FAIL {name}: {error!r}")
    print(f"{failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
