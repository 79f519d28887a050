"""The attention-pruning language-model experiment (scripts/lm) on a tiny
config on the CPU: two seeds of pretrain -> eval -> calibrate -> prune ->
finetune (four masks) -> scratch, learned thresholds and head budgets on
the first, -> report, with the masked-reference attention (sieve's CPU
backend for the timing); then the pieces one by one (mask rules, the
calibration statistic, the attention cores, resuming, the corpus).
PyTorch is a test dependency (scripts/install-deps.sh installs it into
.deps/torch): without it the file fails. The sieve parts run when the sieve
module (and its CLI, or the calibration API) is there."""

import inspect
import json
import math
import os
import shutil
import subprocess
import sys
import time
import types

import numpy as np
import pytest

import torch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "lm"))
sys.path.append(os.path.join(ROOT, "bench", "peers"))  # pngplot

import block_masks as masks  # noqa: E402
import calibration  # noqa: E402
import model as lm_model  # noqa: E402
import pngplot  # noqa: E402
import reference  # noqa: E402
import train_lm  # noqa: E402

SPARSITIES = [0, 30, 60]
TINY = ["--layers", "2", "--d-model", "32", "--heads", "2", "--context", "128", "--block", "16",
        "--batch", "4", "--pretrain-steps", "20", "--pretrain-warmup", "5",
        "--finetune-steps", "4", "--finetune-warmup", "2", "--calib-windows", "8",
        "--calib-batch", "4", "--eval-windows", "8", "--eval-batch", "8",
        "--attention", "masked-reference", "--device", "cpu", "--log-every", "10",
        "--sparsities", ",".join(map(str, SPARSITIES)), "--scratch-sparsities", "60",
        "--seeds", "1,2", "--sweep-seeds", "1", "--threshold-targets", "80",
        "--threshold-steps", "4", "--threshold-hard-steps", "2", "--head-budgets",
        "layer-k1,total-k3", "--head-select-steps", "4", "--head-finetune-steps", "2",
        "--check-windows", "4", "--time-windows", "2"]
NB = 128 // 16  # query (and key) blocks of the tiny config
KINDS = ("head", "layer", "random", "position")


def sieve_module():
    try:
        import sieve
        import sieve.torch_op  # noqa: F401
    except ImportError:
        return None
    return sieve


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    """A small real-text corpus: the repository's own documentation, 90/10."""
    text = b"".join(open(os.path.join(ROOT, "docs", name), "rb").read()
                    for name in sorted(os.listdir(os.path.join(ROOT, "docs")))
                    if name.endswith(".md"))
    cut = len(text) * 9 // 10
    out = tmp_path_factory.mktemp("corpus")
    (out / "train.bin").write_bytes(text[:cut])
    (out / "val.bin").write_bytes(text[cut:])
    return str(out)


def run_driver(work, corpus, *extra):
    return train_lm.main(["--work", str(work), "--corpus", corpus, *TINY, *extra])


@pytest.fixture(scope="module")
def run(tmp_path_factory, corpus_dir):
    work = tmp_path_factory.mktemp("work")
    export = tmp_path_factory.mktemp("export")
    status = run_driver(work, corpus_dir, "--export", str(export))
    with open(work / "results.json") as f:
        results = json.load(f)
    return types.SimpleNamespace(work=work, export=export, status=status, results=results,
                                 corpus=corpus_dir)


def load_masks(run, seed=1):
    with np.load(run.work / f"s{seed}-masks.npz") as z:
        return {k: z[k] for k in z.files}


# ---------------------------------------------------------------- the whole run

def test_every_stage_finishes_with_finite_perplexities(run):
    assert run.status == 0
    stages = run.results["stages"]
    assert set(stages) == set(train_lm.all_stages(run.results["config"]))
    assert all(s["done"] for s in stages.values())
    ppls = [s["val_ppl"] for s in stages.values() if "val_ppl" in s]
    # Per seed: dense, p = 0, four masks per p > 0, two from scratch; on
    # seed 1 one threshold target and two head budgets.
    per_seed = 1 + 1 + len(KINDS) * (len(SPARSITIES) - 1) + 2
    assert len(ppls) == 2 * per_seed + 1 + 2
    assert all(math.isfinite(p) and 1 < p < 256 for p in ppls)
    # Training did something: well below the uniform byte model's 256. (The
    # toy's 20 steps end near 145-152 depending on the seed and the
    # machine's thread count, so the bound is three quarters of uniform,
    # not a value those steps happen to reach.)
    assert all(stages[f"s{seed}/eval"]["val_ppl"] < 0.75 * 256 for seed in (1, 2))
    # The seeds are different runs.
    assert stages["s1/eval"]["val_ppl"] != stages["s2/eval"]["val_ppl"]


def test_threshold_stage_reports_drops_and_times(run):
    s = run.results["stages"]["s1/thresholds/d80"]
    assert 0 < s["tiles_dropped"] <= s["scores_dropped"] < 1
    assert len(s["theta"]) == 2 and len(s["theta"][0]) == 2
    t = s["timing"]
    assert all(t[k] > 0 for k in ("plain_s", "threshold_none_s", "threshold_s", "sdpa_s"))
    assert t["speedup_vs_plain"] == pytest.approx(t["plain_s"] / t["threshold_s"])


def test_head_stage_keeps_exactly_k_and_times(run):
    stages = run.results["stages"]
    per_layer = np.array(stages["s1/heads/layer-k1"]["kept"])
    assert per_layer.shape == (2, 2) and (per_layer.sum(1) == 1).all()
    assert np.array(stages["s1/heads/total-k3"]["kept"]).sum() == 3
    t = stages["s1/heads/layer-k1"]["timing"]
    assert t["all_heads_s"] > 0 and t["kept_heads_s"] > 0


def test_whole_model_timing_runs_the_cropped_masks(run, tmp_path):
    # scripts/lm/model_timing.py (point 6): the whole model, dense against
    # sieve under the pruned masks, at lengths up to the context; each
    # length runs the masks' top-left tiles, checked against the masked
    # float reference before it is timed.
    if sieve_module() is None:
        pytest.skip("the sieve module is not built")
    import model_timing

    out = tmp_path / "timing.json"
    assert model_timing.main([str(run.work), "--masks", "p60_head,p60_position", "--lengths",
                              "64,128", "--batch", "2", "--repeats", "2", "--device", "cpu",
                              "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["weights"] == "s1 dense checkpoint"
    full = load_masks(run)
    for length in (64, 128):
        row = result["lengths"][str(length)]
        assert row["tokens"] == 2 * length and row["dense_s"] > 0
        nb = length // 16
        for name in ("p60_head", "p60_position"):
            assert row[name]["density"] == pytest.approx(full[name][:, :, :nb, :nb].mean())
            assert row[name]["logit_error"] < 1e-3
            assert row[name]["speedup"] == pytest.approx(row["dense_s"] / row[name]["seconds"])
    with pytest.raises(SystemExit, match="not multiples of the block"):
        model_timing.main([str(run.work), "--lengths", "72", "--device", "cpu"])
    with pytest.raises(SystemExit, match="no mask"):
        model_timing.main([str(run.work), "--masks", "p99_head", "--lengths", "64",
                           "--device", "cpu"])


def test_export_holds_what_a_later_call_needs(run):
    names = sorted(os.listdir(run.export))
    # Every seed finished: no dense weights need to travel.
    assert names == sorted(["results.json"] + [f"s{seed}-{n}" for seed in (1, 2) for n in
                                               ("stats.npy", "stats.json", "masks.npz")])


def test_export_carries_the_weights_of_a_seed_with_stages_left(run, tmp_path):
    work = train_lm.Work(str(run.work), run.results["config"])
    names = work.export(str(tmp_path), [2])
    assert "s2-dense.0.pt" in names and not any(n.startswith("s1-dense") for n in names)


def test_plan_packs_the_stages_into_calls(tmp_path, corpus_dir, capsys):
    assert run_driver(tmp_path, corpus_dir, "--plan", "--budget-seconds", "120") == 3
    out = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in out if line.startswith("s")]
    assert [r[0] for r in rows] == train_lm.all_stages(train_lm.experiment_config(
        train_lm.parse_args(["--work", "w", "--corpus", "c", *TINY])))
    calls = [int(r[-1]) for r in rows]
    assert calls == sorted(calls) and calls[-1] > 1
    for c in set(calls):  # each call's stages fit its budget less margin and overhead
        assert sum(float(r[1][1:]) for r, k in zip(rows, calls) if k == c) <= 120 - 10 - 20 + 1
    assert out[-1].startswith(f"plan: {calls[-1]} call(s)")


def test_rerun_skips_finished_stages(run):
    before = {k: v["stage_wall_s"] for k, v in run.results["stages"].items()}
    assert run_driver(run.work, run.corpus) == 0
    with open(run.work / "results.json") as f:
        after = json.load(f)
    assert {k: v["stage_wall_s"] for k, v in after["stages"].items()} == before
    assert after["calls"][-1]["ran"] == []
    assert after["calls"][-1]["stopped"] == "all stages done"


def test_other_flags_on_the_same_work_are_refused(run):
    with pytest.raises(SystemExit, match="finetune_steps"):
        train_lm.main(["--work", str(run.work), "--corpus", run.corpus, *TINY,
                       "--finetune-steps", "7"])


def test_more_seeds_extend_the_experiment_and_others_are_refused(run, tmp_path, capsys):
    # Seeds after the recorded ones add error bars to the same experiment;
    # any other seed list is another experiment.
    work = tmp_path / "work"
    shutil.copytree(run.work, work)
    more = [a if a != "1,2" else "1,2,3" for a in TINY]
    capsys.readouterr()
    train_lm.main(["--work", str(work), "--corpus", run.corpus, *more, "--plan"])
    plan = capsys.readouterr().out
    assert "s3/pretrain" in plan and "s1/pretrain" in plan
    for seeds in ("2,1,3", "1"):
        other = [a if a != "1,2" else seeds for a in TINY]
        with pytest.raises(SystemExit, match="seeds"):
            train_lm.main(["--work", str(work), "--corpus", run.corpus, *other, "--plan"])


def test_a_stage_longer_than_a_whole_budget_is_refused(tmp_path, corpus_dir):
    assert run_driver(tmp_path, corpus_dir, "--budget-seconds", "5") == 2
    with open(tmp_path / "results.json") as f:
        results = json.load(f)
    assert results["stages"] == {}
    assert "more than a whole call's budget" in results["calls"][-1]["stopped"]


def test_a_stage_waits_for_a_call_with_time_for_it():
    args = types.SimpleNamespace(budget_seconds=100, margin_seconds=10)
    assert train_lm.fits(50, 60, args) is None
    assert train_lm.fits(50, 40, args) == ("it needs ~50 s, 40 s are left", True)
    why, later = train_lm.fits(95, 95, args)
    assert "more than a whole call's budget" in why and not later


def test_training_stops_early_when_it_cannot_make_the_deadline():
    should_stop = train_lm.past_deadline(time.monotonic() + 60)
    assert not should_stop(10, None) and not should_stop(10, 30)
    assert should_stop(10, 90)
    assert train_lm.past_deadline(time.monotonic() - 1)(10, None)


def test_report_writes_the_table_and_the_plot(run, tmp_path):
    md, png = tmp_path / "r.md", tmp_path / "r.png"
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "lm", "report.py"),
                    str(run.work / "results.json"), "--md", str(md), "--png", str(png)],
                   check=True, capture_output=True)
    text = md.read_text()
    for p in SPARSITIES:
        assert f"\n| {p} | " in text
    stages = len(run.results["stages"])
    assert f"All {stages} stages done" in text and "![perplexity against p](./r.png)" in text
    assert "(n=2)" in text and "| 80% |" in text and "| 1 per layer |" in text
    assert "### The calibrated masks against the baselines" in text
    assert "The calibrated mask beats both baselines by more than the error bars at" in text
    width, height, _ = pngplot.read_png(str(png))
    assert width > 500 and height > 300


def test_baseline_verdicts_use_the_seeds_t_interval():
    sys.path.insert(0, os.path.join(ROOT, "scripts", "lm"))
    import report

    # Three seeds of -10% +- 1%: the interval (t = 4.303) stays below 0.
    mean, low, high, n = report.paired_interval([-0.09, -0.10, -0.11])
    assert n == 3 and abs(mean + 0.10) < 1e-12 and high < 0
    assert abs((high - low) / 2 - 4.303 * 0.01 / 3 ** 0.5) < 1e-9
    # A spread that crosses 0 is within the error bars; one seed has no spread.
    mean, low, high, _ = report.paired_interval([-0.05, 0.04, -0.02])
    assert low < 0 < high
    assert report.paired_interval([0.02])[1:3] == (0.02, 0.02)
    assert report.paired_interval([None, None]) == (None, None, None, 0)


# ---------------------------------------------------------------- masks

def test_masks_keep_the_requested_tiles_and_the_diagonal(run):
    found = load_masks(run)
    causal = masks.causal_tiles(NB)
    allowed = int(causal.sum())
    for p in SPARSITIES:
        pruned = found[f"p{p:02d}_head"]
        assert pruned.shape == (2, 2, NB, NB)
        kept = pruned.sum((2, 3))
        # (1 - p) of the causal tiles, within one tile per head, unless the
        # diagonal alone is more.
        want = max(round((1 - p / 100) * allowed), NB)
        assert np.all(np.abs(kept - want) <= 1), (p, kept, want)
        assert not (pruned & ~causal).any()
        assert pruned[..., np.arange(NB), np.arange(NB)].all()
        if p == 0:
            assert np.array_equal(pruned, np.broadcast_to(causal, pruned.shape))
            assert "p00_random" not in found
            continue
        for kind in ("random", "position"):
            other = found[f"p{p:02d}_{kind}"]
            assert np.array_equal(other.sum((2, 3)), kept)
            assert not (other & ~causal).any()
            assert other[..., np.arange(NB), np.arange(NB)].all()
        layer = found[f"p{p:02d}_layer"]
        assert np.array_equal(layer.sum((1, 2, 3)), kept.sum(1))  # the same tiles a layer


def test_pruned_masks_keep_more_mass_than_random(run):
    summary = run.results["stages"]["s1/prune"]["masks"]
    assert summary["p30"]["head"]["mass_retained"] > summary["p30"]["random"]["mass_retained"]
    # A layer's shared budget holds at least the per-head mask's mass.
    assert summary["p30"]["layer"]["mass_retained"] >= summary["p30"]["head"]["mass_retained"]


def test_prune_head_takes_the_heaviest_causal_tiles():
    mass = np.tril(np.arange(16, dtype=float).reshape(4, 4) + 1)
    mass[0, 3] = 100  # above the diagonal: never kept, whatever its mass
    keep = masks.prune_head(mass, 50)  # 10 causal tiles: keep 5 = 4 diagonal + 1
    expected = np.eye(4, dtype=bool)
    expected[3, 2] = True  # the heaviest off-diagonal causal tile (mass 15)
    assert np.array_equal(keep, expected)


def test_random_masks_are_seeded():
    pruned = masks.prune(np.random.default_rng(0).random((2, 3, NB, NB)), 40)
    a, b = masks.random_like(pruned, 1, 40), masks.random_like(pruned, 1, 40)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, masks.random_like(pruned, 2, 40))


def sieve_cli():
    path = os.environ.get("SIEVE_CLI") or os.path.join(ROOT, "build", "tools", "sieve", "sieve")
    return path if os.access(path, os.X_OK) else None


@pytest.mark.skipif(sieve_cli() is None, reason="no sieve CLI (build/tools/sieve/sieve)")
def test_sieve_prune_cli_reads_the_stats_and_agrees(run, tmp_path):
    stats = np.load(run.work / "s1-stats.npy")
    shutil.copy(run.work / "s1-stats.npy", tmp_path / "stats.npy")
    shutil.copy(run.work / "s1-stats.json", tmp_path / "stats.json")
    for p in SPARSITIES:
        cli = masks.prune_cli(sieve_cli(), str(tmp_path / "stats.npy"),
                              str(tmp_path / f"m{p}.npy"), p, NB)
        assert np.array_equal(cli, masks.prune(stats, p)), p


# ---------------------------------------------------------------- calibration

def test_tile_mass_sums_to_rows_times_batch():
    g = torch.Generator().manual_seed(3)
    q, k = (torch.randn(3, 2, 64, 8, generator=g) for _ in range(2))
    mass = calibration.torch_tile_mass(q, k, 16)
    assert mass.shape == (2, 4, 4)
    torch.testing.assert_close(mass.sum((1, 2)), torch.full((2,), 3.0 * 64))
    torch.testing.assert_close(mass.sum(2), torch.full((2, 4), 3.0 * 16))  # each query block
    assert (mass.triu(1) == 0).all()  # nothing above the diagonal


def test_tile_mass_matches_the_float64_reference():
    g = torch.Generator().manual_seed(4)
    q, k = (torch.randn(2, 2, 32, 8, generator=g, dtype=torch.float64) for _ in range(2))
    scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(8)
    probs = scores.masked_fill(~torch.ones(32, 32, dtype=torch.bool).tril(), -math.inf).softmax(-1)
    expected = probs.sum(0).view(2, 4, 8, 4, 8).sum((2, 4))
    torch.testing.assert_close(calibration.torch_tile_mass(q, k, 8).double(), expected,
                               rtol=1e-5, atol=1e-5)


def test_run_stats_are_in_sieve_stats_format(run):
    stats = np.load(run.work / "s1-stats.npy")
    with open(run.work / "s1-stats.json") as f:
        sidecar = json.load(f)
    assert stats.dtype == np.float64 and stats.shape == (2, 2, NB, NB)
    rows = 8 * 128  # calibration windows x context
    np.testing.assert_allclose(stats.sum((2, 3)), rows, rtol=1e-5)
    assert sidecar["format"] == "sieve-attention-stats" and sidecar["block_q"] == 16
    assert all(layer["rows"] == [8 * 16] * NB for layer in sidecar["layers"])


def sieve_calibration_api():
    sieve = sieve_module()
    if sieve is None or "calibrate" not in inspect.signature(sieve.compile).parameters:
        return None
    return sieve


@pytest.mark.skipif(sieve_calibration_api() is None,
                    reason="sieve.compile(..., calibrate=True) is not there")
def test_sieve_calibration_kernel_matches_torch():
    g = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(2, 2, 64, 16, generator=g) for _ in range(3))
    got = calibration.SieveTileMass(2, 64, 16)(q, k, v)
    torch.testing.assert_close(got, calibration.torch_tile_mass(q, k, 16), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- attention cores

def qkv(seed, batch=2, heads=2, seq=64, dim=16, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, heads, seq, dim, generator=g, dtype=dtype) for _ in range(3)]


def test_masked_reference_at_p0_is_dense_sdpa():
    q, k, v = qkv(6)
    full = np.broadcast_to(masks.causal_tiles(4), (2, 4, 4))
    got = lm_model.MaskedReferenceAttention(full, 16, 64)(q, k, v)
    torch.testing.assert_close(got, lm_model.DenseAttention()(q, k, v), rtol=0, atol=1e-5)


def test_model_at_p0_is_the_dense_model():
    cfg = lm_model.ModelConfig(layers=2, d_model=32, heads=2, context=64)
    torch.manual_seed(0)
    net = lm_model.ByteLM(cfg).eval()
    tokens = torch.randint(0, 256, (2, 64))
    with torch.no_grad():
        dense = net(tokens)
        net.set_attention("masked-reference", [np.ones((2, 4, 4), bool)] * 2, 16)
        masked = net(tokens)
    torch.testing.assert_close(masked, dense, rtol=0, atol=1e-5)


def test_masked_reference_is_sieve_semantics():
    """Against tests/python/reference.py (float64), with a head whose first
    query block keeps no tile: its rows are zero, not NaN."""
    q, k, v = qkv(7, dtype=torch.float64)
    tiles = np.random.default_rng(7).random((2, 4, 4)) < 0.5
    tiles[0, 0] = False
    mask = types.SimpleNamespace(to_numpy=lambda: tiles, block_q=16, block_k=16)
    expected = reference.attention(q.numpy(), k.numpy(), v.numpy(), mask, causal=True)
    got = lm_model.MaskedReferenceAttention(tiles, 16, 64)(q, k, v)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-10)
    assert (got[:, 0, :16] == 0).all()


@pytest.mark.skipif(sieve_module() is None, reason="the sieve module is not importable")
def test_sieve_core_matches_masked_reference_forward():
    q, k, v = qkv(8)
    tiles = masks.prune(np.random.default_rng(8).random((1, 2, 4, 4)), 40)[0]
    got = lm_model.SieveAttention(tiles, 16)(q, k, v)
    want = lm_model.MaskedReferenceAttention(tiles, 16, 64)(q, k, v)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(sieve_module() is None, reason="the sieve module is not importable")
def test_model_under_sieve_matches_masked_reference():
    """Through the model: q, k, v reach the op as strided views."""
    cfg = lm_model.ModelConfig(layers=2, d_model=32, heads=2, context=64)
    torch.manual_seed(1)
    net = lm_model.ByteLM(cfg).eval()
    tiles = masks.prune(np.random.default_rng(10).random((2, 2, 4, 4)), 60)
    tokens = torch.randint(0, 256, (2, 64))
    with torch.no_grad():
        net.set_attention("sieve", tiles, 16)
        got = net(tokens)
        net.set_attention("masked-reference", tiles, 16)
        want = net(tokens)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(sieve_module() is None, reason="the sieve module is not importable")
def test_sieve_core_gradients_match_masked_reference():
    tiles = masks.prune(np.random.default_rng(9).random((1, 2, 4, 4)), 40)[0]
    grads = []
    for core in (lm_model.SieveAttention(tiles, 16),
                 lm_model.MaskedReferenceAttention(tiles, 16, 64)):
        q, k, v = (t.requires_grad_() for t in qkv(9))
        try:
            core(q, k, v).square().sum().backward()
        except RuntimeError as error:
            if "autograd" in str(error):
                pytest.skip("torch.ops.sieve.attention has no autograd formula yet")
            raise
        grads.append([q.grad, k.grad, v.grad])
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-3)


# ---------------------------------------------------------------- checkpoints and resuming

def tiny_context(work, corpus, *extra):
    args = train_lm.parse_args(["--work", str(work), "--corpus", corpus, *TINY, *extra])
    cfg = train_lm.experiment_config(args)
    return train_lm.Work(str(work), cfg), train_lm.Context(args, cfg)


def test_weights_shard_and_load_back(tmp_path, corpus_dir, monkeypatch):
    work, ctx = tiny_context(tmp_path, corpus_dir)
    net = train_lm.new_model(ctx, 1)
    monkeypatch.setattr(train_lm, "SHARD_BYTES", 40_000)
    shards = train_lm.save_weights(net, work, "w")
    assert shards > 1 and len(list(tmp_path.glob("w.*.pt"))) == shards
    back = train_lm.ByteLM(train_lm.model_config(ctx.cfg))
    train_lm.load_weights(back, work, "w")
    for (name, a), b in zip(net.state_dict().items(), back.state_dict().values()):
        torch.testing.assert_close(b, a.to(torch.bfloat16).float(), rtol=0, atol=0, msg=name)


def test_stopped_training_resumes_to_the_same_weights(tmp_path, corpus_dir):
    work, ctx = tiny_context(tmp_path, corpus_dir)
    common = dict(seed=1, steps=12, lr=1e-3, warmup=2, stream=0, log_every=4)
    straight = train_lm.new_model(ctx, 1)
    train_lm.train(straight, ctx, should_stop=lambda s, eta: False,
                   partial=str(tmp_path / "a.pt"), **common)
    resumed = train_lm.new_model(ctx, 1)
    first = train_lm.train(resumed, ctx, should_stop=lambda s, eta: s >= 5,
                           partial=str(tmp_path / "b.pt"), **common)
    assert not first["finished"] and first["steps_done"] == 5 and (tmp_path / "b.pt").exists()
    resumed = train_lm.new_model(ctx, 1)  # a new process: only the partial checkpoint survives
    second = train_lm.train(resumed, ctx, should_stop=lambda s, eta: False,
                            partial=str(tmp_path / "b.pt"), **common)
    assert second["finished"] and not (tmp_path / "b.pt").exists()
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=0, atol=0)


# ---------------------------------------------------------------- the corpus

@pytest.mark.skipif(shutil.which("bible") is None,
                    reason="Debian's bible-kjv(-text) is not installed")
def test_corpus_from_the_bible_package(tmp_path):
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "lm", "corpus.py"),
                    str(tmp_path), "--xz", "--sources", "kjv"], check=True, capture_output=True)
    import corpus

    with open(tmp_path / "corpus.json") as f:
        info = json.load(f)
    train, val = corpus.load_split(str(tmp_path), "train"), corpus.load_split(str(tmp_path), "val")
    kjv = info["sources"]["kjv"]
    assert kjv["chunks"] == 1189 and kjv["license"] == "public domain"
    assert kjv["packages"]["bible-kjv-text"]
    assert len(train) == info["files"]["train"]["bytes"] == kjv["train_bytes"] > 3_500_000
    assert 0.04 < len(val) / (len(train) + len(val)) < 0.06
    assert train.max() < 128 and val.max() < 128  # ASCII
    assert bytes(train[:39]) == b"In the beginning God created the heaven"


def test_dictd_entries_follow_the_index():
    import corpus

    data = b"zero entry\nfirst entry\nsecond\n"
    index = ["00-database-info\tA\tK\n",  # offset 0, length 10: metadata, left out
             "first\tL\tM\n",  # offset 11, length 12
             "again\tL\tM\n",  # the same entry under another headword
             "second\tX\tH\n"]  # offset 23, length 7
    assert corpus.dictd_number("BA") == 64 and corpus.dictd_number("/") == 63
    assert corpus.dictd_entries(data, index) == [b"first entry\n", b"second\n"]


def test_chunks_group_to_a_least_size_and_hold_out_every_twentieth():
    import corpus

    pieces = [bytes([65 + i % 26]) * (i % 7 + 1) for i in range(200)]
    chunks = corpus.group(pieces, least=10)
    assert b"".join(chunks) == b"".join(pieces)
    assert all(len(c) >= 10 for c in chunks[:-1])
    train, val = corpus.split(chunks)
    assert val == b"".join(chunks[19::20]) and len(train) + len(val) == sum(map(len, chunks))


@pytest.mark.skipif(not (os.path.exists("/usr/share/dictd/gcide.dict.dz") and
                         os.path.exists("/usr/share/doc/jargon-text/jargon.txt.gz")),
                    reason="Debian's dict-gcide and jargon-text are not installed")
def test_corpus_sources_beyond_the_bible(tmp_path):
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "lm", "corpus.py"),
                    str(tmp_path), "--sources", "gcide,jargon"], check=True, capture_output=True)
    with open(tmp_path / "corpus.json") as f:
        info = json.load(f)
    assert info["sources"]["gcide"]["train_bytes"] > 30_000_000
    assert info["sources"]["jargon"]["license"] == "public domain"
    val = (tmp_path / "val.bin").read_bytes()
    assert b"00-database" not in val and 0.04 < len(val) / info["files"]["train"]["bytes"] < 0.06
