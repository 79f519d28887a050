"""torch.ops.sieve.attention on the CPU backend (CI has no GPU): the op
against float64 row by row, its output fully written (a poisoned `out`
through sieve.attention), autograd through the op against float64
gradients of the same masked attention, and a torch.compile'd module
(fullgraph=True) that calls the op with no graph break; threshold mode's
forward and autograd through the hard threshold (the thresholds get no
gradient) against float64 with the same thresholds. GQA, BSHD views,
Sq != Sk, causal and not, an empty row and an empty head. Seeds are fixed
per test and printed on failure.

torch is a test dependency (scripts/install-deps.sh installs it into
.deps/torch): without it this file fails rather than skips."""

import numpy as np
import pytest
import torch

import sieve
import sieve.torch_op
from reference import attention, attention_backward

ROW_TOLERANCE = 1e-5  # f32 accumulation against float64, per (batch, head, row)
GRAD_TOLERANCE = 1e-5

CASES = [
    # name, batch, heads_q, heads_kv, seq_q, seq_k, head_dim, block_q, block_k, causal, bshd
    ("square", 2, 4, 4, 64, 64, 16, 16, 16, False, False),
    ("gqa-bshd-causal", 1, 4, 2, 48, 48, 32, 16, 16, True, True),
    ("sq-ne-sk", 2, 2, 1, 40, 72, 16, 8, 16, False, True),
    # Bottom-right causal (the queries are the last Sq positions): a KV
    # cache, and more queries than keys (leading rows without keys: zeros).
    ("kv-cache-bottom-right", 2, 4, 2, 24, 72, 16, 8, 16, "bottom_right", True),
    ("more-queries-bottom-right", 1, 2, 2, 72, 40, 16, 8, 16, "bottom_right", False),
]


def make_mask(seed, heads, seq_q, seq_k, block_q, block_k):
    rng = np.random.default_rng(seed)
    tiles = rng.random((heads, -(-seq_q // block_q), -(-seq_k // block_k))) < 0.5
    for h in range(heads):
        np.fill_diagonal(tiles[h], True)
    tiles[0, 1] = False  # an empty row in a live head
    tiles[-1] = False  # an empty head
    return sieve.BlockMask(tiles, block_q, block_k)


def make_inputs(seed, batch, heads_q, heads_kv, seq_q, seq_k, head_dim, bshd):
    generator = torch.Generator().manual_seed(seed)

    def tensor(heads, seq):
        shape = (batch, seq, heads, head_dim) if bshd else (batch, heads, seq, head_dim)
        t = torch.randn(shape, generator=generator, dtype=torch.float32)
        return t.transpose(1, 2) if bshd else t

    return tensor(heads_q, seq_q), tensor(heads_kv, seq_k), tensor(heads_kv, seq_k)


def worst_row_error(got, want):
    """The largest ||got - want|| / ||want|| over (batch, head, row); rows
    the reference leaves zero must be exactly zero."""
    got = np.asarray(got, dtype=np.float64)
    diff = np.linalg.norm(got - want, axis=-1)
    norm = np.linalg.norm(want, axis=-1)
    assert np.all(diff[norm == 0] == 0), "a row with no kept key is not zero"
    assert not np.isnan(got).any()
    return float((diff[norm > 0] / norm[norm > 0]).max())


def assert_gradients_match_float64(q, k, v, dout, mask, causal):
    """q.grad, k.grad and v.grad against the float64 backward of the masked
    attention for the upstream gradient dout."""
    want_dq, want_dk, want_dv, _ = attention_backward(q.detach().numpy(), k.detach().numpy(),
                                                      v.detach().numpy(), dout.numpy(), mask,
                                                      causal)
    for name, got, want in (("dq", q.grad, want_dq), ("dk", k.grad, want_dk),
                            ("dv", v.grad, want_dv)):
        assert got is not None and not torch.isnan(got).any(), name
        error = np.linalg.norm(got.numpy() - want) / np.linalg.norm(want)
        assert error < GRAD_TOLERANCE, f"{name}: relative error {error:.2e}"


@pytest.fixture(params=CASES, ids=[c[0] for c in CASES])
def case(request):
    name, b, hq, hkv, sq, sk, d, bq, bk, causal, bshd = request.param
    seed = sum(map(ord, name))
    print(f"case {name}: seed {seed}")
    mask = make_mask(seed, hq, sq, sk, bq, bk)
    q, k, v = make_inputs(seed, b, hq, hkv, sq, sk, d, bshd)
    return mask, q, k, v, causal


def test_op_matches_float64_row_by_row(case):
    mask, q, k, v, causal = case
    # The op takes PyTorch's flag and, last, the alignment.
    flag, align = (True, causal) if isinstance(causal, str) else (causal, "top_left")
    out = torch.ops.sieve.attention(q, k, v, sieve.torch_op.register_mask(mask), flag, None, align)
    assert out.shape == q.shape and out.dtype == torch.float32
    want = attention(q.numpy(), k.numpy(), v.numpy(), mask, causal)
    assert worst_row_error(out, want) < ROW_TOLERANCE


def test_kernel_writes_every_element(case):
    mask, q, k, v, causal = case
    out = torch.full(q.shape, float("nan"))
    sieve.attention(q, k, v, mask, causal=causal, out=out)
    assert not torch.isnan(out).any()
    want = attention(q.numpy(), k.numpy(), v.numpy(), mask, causal)
    assert worst_row_error(out, want) < ROW_TOLERANCE


def test_autograd_through_the_op_matches_float64(case):
    mask, q, k, v, causal = case
    q, k, v = (t.clone().requires_grad_() for t in (q, k, v))
    module = sieve.torch_op.SieveAttention(mask, causal=causal)
    out = module(q, k, v)
    dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(7))
    out.backward(dout)
    assert_gradients_match_float64(q, k, v, dout, mask, causal)


def test_compiled_module_calls_the_op_without_graph_breaks(case):
    mask, q, k, v, causal = case
    module = sieve.torch_op.SieveAttention(mask, causal=causal)

    def block(q, k, v):
        return module(q * 1.0, k, v) + 0.0  # the op between ordinary ops

    torch._dynamo.reset()
    compiled = torch.compile(block, fullgraph=True)
    got = compiled(q, k, v)
    want = attention(q.numpy(), k.numpy(), v.numpy(), mask, causal)
    assert worst_row_error(got.detach(), want) < ROW_TOLERANCE
    # The op is in the traced graph: tracing did not run around it.
    explained = torch._dynamo.explain(block)(q, k, v)
    assert explained.graph_break_count == 0
    assert any("sieve" in str(node.target) for graph in explained.graphs
               for node in graph.graph.nodes), "the sieve op is not in the traced graph"


def test_compiled_training_step_matches_float64(case):
    # The training forward's gradient is an Autograd kernel of its own
    # (torch_op._TrainingForward): AOTAutograd must trace it and
    # attention_backward through their fake implementations, with no graph
    # break, and the compiled step's gradients must be the eager ones.
    mask, q, k, v, causal = case
    q, k, v = (t.clone().requires_grad_() for t in (q, k, v))
    module = sieve.torch_op.SieveAttention(mask, causal=causal)
    dout = torch.randn(q.shape, generator=torch.Generator().manual_seed(11))

    def step(q, k, v):
        return (module(q * 1.0, k, v) * dout).sum()

    torch._dynamo.reset()
    torch.compile(step, fullgraph=True)(q, k, v).backward()
    assert_gradients_match_float64(q, k, v, dout, mask, causal)


def test_op_rejects_a_bad_alignment():
    mask = make_mask(1, 2, 16, 16, 8, 8)
    q, k, v = make_inputs(1, 1, 2, 2, 16, 16, 8, False)
    handle = sieve.torch_op.register_mask(mask)
    with pytest.raises(sieve.InvalidArgumentError,
                       match='causal_align must be "top_left" or "bottom_right", got \'diagonal\''):
        torch.ops.sieve.attention(q, k, v, handle, True, None, "diagonal")
    with pytest.raises(sieve.InvalidArgumentError, match="needs causal=True"):
        torch.ops.sieve.attention(q, k, v, handle, False, None, "bottom_right")
    with pytest.raises(sieve.InvalidArgumentError, match='causal must be False, True, "top_left"'):
        sieve.torch_op.SieveAttention(mask, causal="bottom-left")


def gap_thresholds(q, k, scale):
    """Threshold mode's [Hq] thresholds: each live head's near its median
    score, in the widest gap between neighbouring scores there (a score on
    the threshold could fall either side under f32 rounding); the second
    head's +inf (every score dropped)."""
    group = q.shape[1] // k.shape[1]
    theta = []
    for h in range(q.shape[1]):
        scores = torch.einsum("bqd,bkd->bqk", q[:, h].double(), k[:, h // group].double()) * scale
        x = torch.sort(scores.flatten()).values
        at = x.numel() // 2
        gaps = x[at - 5 + 1:at + 6 + 1] - x[at - 5:at + 6]
        best = at - 5 + int(torch.argmax(gaps))
        theta.append(float(0.5 * (x[best] + x[best + 1])))
    theta[1] = float("inf")
    return torch.tensor(theta, dtype=torch.float32)


def test_threshold_mode_forward_and_autograd_match_float64(case):
    mask, q, k, v, causal = case
    theta = gap_thresholds(q, k, 1 / q.shape[-1] ** 0.5)
    theta.requires_grad_()  # the op gives it no gradient, and must not fail on it
    module = sieve.torch_op.SieveAttention(mask, causal=causal)
    with torch.no_grad():
        inference = module(q, k, v, theta)
    want = attention(q.numpy(), k.numpy(), v.numpy(), mask, causal, thresholds=theta.detach())
    assert worst_row_error(inference, want) < ROW_TOLERANCE
    assert torch.all(inference[:, 1] == 0), "head 1 dropped every score"

    q, k, v = (t.clone().requires_grad_() for t in (q, k, v))
    out = module(q, k, v, theta)
    assert worst_row_error(out.detach(), want) < ROW_TOLERANCE
    dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(11))
    out.backward(dout)
    want_dq, want_dk, want_dv, _ = attention_backward(
        q.detach().numpy(), k.detach().numpy(), v.detach().numpy(), dout.numpy(), mask, causal,
        thresholds=theta.detach().numpy())
    for name, got, want in (("dq", q.grad, want_dq), ("dk", k.grad, want_dk),
                            ("dv", v.grad, want_dv)):
        assert got is not None and not torch.isnan(got).any(), name
        error = np.linalg.norm(got.numpy() - want) / np.linalg.norm(want)
        assert error < GRAD_TOLERANCE, f"{name}: relative error {error:.2e}"
    assert torch.all(q.grad[:, 1] == 0), "no gradient reaches the all-dropped head"
    assert theta.grad is None, "a hard threshold has no gradient"
    # The thresholds matter: the plain attention's gradients differ.
    plain_dq = attention_backward(q.detach().numpy(), k.detach().numpy(), v.detach().numpy(),
                                  dout.numpy(), mask, causal)[0]
    assert np.linalg.norm(q.grad.numpy() - plain_dq) / np.linalg.norm(plain_dq) > 1e-2


def test_threshold_mode_refuses_bad_thresholds_by_name(case):
    mask, q, k, v, causal = case
    handle = sieve.torch_op.register_mask(mask)
    # The op takes PyTorch's flag and the alignment, then the thresholds.
    flag, align = (True, causal) if isinstance(causal, str) else (causal, "top_left")
    with pytest.raises(sieve.ShapeMismatchError, match="thresholds has shape"):
        torch.ops.sieve.attention(q, k, v, handle, flag, None, align, torch.zeros(q.shape[1] + 1))
    with pytest.raises(sieve.DTypeMismatchError, match="thresholds is float64"):
        torch.ops.sieve.attention(q, k, v, handle, flag, None, align,
                                  torch.zeros(q.shape[1], dtype=torch.float64))
