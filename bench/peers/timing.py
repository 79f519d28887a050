"""GPU timing by CUDA events, one event pair per call.

Method: a few warm-up calls; the rep count N is chosen from them so one
measurement costs about TARGET_S of GPU time (at least MIN_REPS, at most
MAX_REPS). Before the timed calls the stream is held by a short GPU sleep,
long enough for the host to queue all N calls behind it: the calls then run
back to back, and each event pair brackets GPU work only, not the host's
launch overhead (Python guards of torch.compile, ctypes), which would
otherwise dominate sub-0.1 ms kernels. The result is the median of the N
per-call times. No cache flush between calls (inputs stay L2-warm when they
fit, identically for every peer).
"""
import statistics
import time

TARGET_S = 0.3
MIN_REPS, MAX_REPS = 10, 100
WARMUP = 3
SLEEP_CYCLES_PER_S = 1.5e9  # below any H100 clock: the hold errs long


def reps_for(ms_per_call, target_s=TARGET_S):
    if ms_per_call <= 0:
        return MAX_REPS
    return int(max(MIN_REPS, min(MAX_REPS, target_s * 1e3 / ms_per_call)))


def _split(fn, setup):
    """(prepare, timed): each call is timed(prepare()), prepare untimed."""
    if setup is None:
        return (lambda: None), (lambda _: fn())
    return setup, fn


def time_calls(fn, device="cuda", target_s=TARGET_S, stats=None, setup=None):
    """time_gpu on CUDA; on the CPU (compare.py --device cpu, a smoke test)
    the median of wall-clock times of synchronous calls."""
    if device == "cuda":
        return time_gpu(fn, target_s, stats, setup)
    prepare, timed = _split(fn, setup)
    for _ in range(WARMUP):
        timed(prepare())
    pre = prepare()
    t0 = time.perf_counter()
    timed(pre)
    n = reps_for((time.perf_counter() - t0) * 1e3, target_s)
    times = []
    for _ in range(n):
        pre = prepare()
        t0 = time.perf_counter()
        timed(pre)
        times.append((time.perf_counter() - t0) * 1e3)
    del pre
    return statistics.median(times), times


def time_gpu(fn, target_s=TARGET_S, stats=None, setup=None):
    """Returns (median ms, list of per-call ms). `fn` launches on torch's
    current stream and must not synchronize. With `setup`, each call is
    fn(setup()), setup's work queued before the call's start event so it
    is not timed (compare.py --backward: the forward, then the timed
    backward of its output). A `stats` dict receives
    host_ms (the host's time to issue one call, from the warm-up) and
    queued: whether the GPU sleep outlasted the host's issuing of all N
    calls (False: the GPU may have idled between calls, e.g. because `fn`
    synchronizes or the host is slower than the GPU, so the times include
    host gaps)."""
    import torch
    stream = torch.cuda.current_stream()
    # Warm-up, also timing the host's cost of one launch and the GPU's cost
    # of one call.
    torch.cuda.synchronize()
    prepare, timed = _split(fn, setup)
    t0 = time.perf_counter()
    for _ in range(WARMUP):
        timed(prepare())
    host_s = (time.perf_counter() - t0) / WARMUP
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    pre = prepare()
    start.record(stream)
    timed(pre)
    end.record(stream)
    del pre
    end.synchronize()
    n = reps_for(start.elapsed_time(end), target_s)

    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
              for _ in range(n)]
    if hasattr(torch.cuda, "_sleep"):
        # Hold long enough to queue n calls (plus event records), capped at 0.5 s.
        hold_s = min(0.5, 2.0 * n * host_s + 1e-3)
        torch.cuda._sleep(int(hold_s * SLEEP_CYCLES_PER_S))
    held = None
    if stats is not None:
        held = torch.cuda.Event()
        held.record(stream)
    for s, e in events:
        pre = prepare()
        s.record(stream)
        timed(pre)
        e.record(stream)
        del pre
    if stats is not None:
        stats["host_ms"] = host_s * 1e3
        stats["queued"] = bool(hasattr(torch.cuda, "_sleep") and not held.query())
    torch.cuda.synchronize()
    times = [s.elapsed_time(e) for s, e in events]
    return statistics.median(times), times
