"""The row loop both comparisons share: for one (shape, causal, dtype)
group, every mask kind and density in order until the wall-time budget is
spent, skipping a density whose mask equals an earlier one's (short rows
reach few distinct densities), and saving after every row so that a run
cut short keeps what it measured."""
import time
import traceback

import masks
import report


def run_group(g, args, results, start, shape, causal, run_row, save, error_text):
    """Runs run_row(kind, density) for each row of group `g`; returns how
    many of its rows were done (measured, failed or found equal to one)."""
    done = 0
    for kind in args.masks:
        seen = {}  # packed mask -> density
        for density in args.densities:
            if time.monotonic() - start > args.budget_s:
                break
            _, h, s, _ = shape
            packed = masks.pack_bits(masks.make_mask(kind, h, s, density, causal, args.seed,
                                                     seq_k=getattr(shape, "sk", s)))
            if packed in seen:
                g.info["notes"].append(f"{kind} {density:g}: same mask as {seen[packed]:g}")
                done += 1
                continue
            seen[packed] = density
            try:
                row = run_row(kind, density)
            except Exception as exc:  # a bug here must not end the run
                traceback.print_exc()
                row = None
                g.info["notes"].append(f"{kind} {density}: {error_text(exc)}")
            done += 1
            if row is not None:
                results["rows"].append(row)
                print(report.table_row(row), flush=True)
            save(results, args.out)
    return done
