#!/usr/bin/env python3
"""The retrieval table's evaluation on a GPU: all-MiniLM-L6-v2 through
Hugging Face transformers with attn_implementation="sieve" (sieve's GPU
kernels, bf16 or f16, tensor cores), under every mask set that
`sieve evaluate --masks-only --export-masks DIR` made here on the CPU machine
(the data mask, the random seeds and the position-only mask at each
sparsity, matched on the as-run work of the same inputs), and the dense
model. Writes JSON in `sieve evaluate`'s layout (per-query ranks, recall@1,
MRR, both densities), which scripts/pruning-report.py turns into the table.

Inputs are batched by token count, so no input is padded: every input runs
exactly the tiles of its own crop, the work the densities count.

usage: retrieval-gpu.py --pairs test.tsv --masks DIR --model MODEL_DIR --out results.json
                        [--limit N] [--dtype bf16|f16] [--batch 64] [--device cuda]

Needs torch, transformers and the sieve package (PYTHONPATH) on the device.
"""
import argparse
import collections
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def read_pairs(path):
    pairs = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) != 2:
                sys.exit(f"retrieval-gpu: {path} line {n}: expected a query and its document "
                         "separated by one tab")
            pairs.append(tuple(parts))
    return pairs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--masks", required=True, help="the --export-masks folder (index.json)")
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--dtype", choices=("bf16", "f16", "f32"), default="bf16",
                    help="f32 only on the CPU (a check against sieve evaluate)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()

    import torch
    import transformers

    import sieve.integrations.transformers as sieve_hf

    index = json.load(open(os.path.join(a.masks, "index.json")))
    tokenizer = transformers.AutoTokenizer.from_pretrained(a.model)
    with open(os.path.join(a.model, "sentence_bert_config.json")) as f:
        max_tokens = json.load(f)["max_seq_length"]
    grid = index["grid_tokens"]
    # As sieve evaluate reads them: cut to the model's limit, pairs with a
    # side longer than the masks' grid skipped, then the first --limit.
    pairs, ids = [], []
    for q, d in read_pairs(a.pairs):
        t = tokenizer([q, d], truncation=True, max_length=max_tokens)["input_ids"]
        if max(len(t[0]), len(t[1])) > grid:
            continue
        pairs.append((q, d))
        ids.append(t)
        if a.limit and len(pairs) >= a.limit:
            break
    ids = [t[0] for t in ids] + [t[1] for t in ids]
    if index.get("pairs") != len(pairs):
        sys.exit(f"retrieval-gpu: the masks were matched on {index.get('pairs')} pairs, "
                 f"{a.pairs} gives {len(pairs)} (use the same --limit as the export)")
    dtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[a.dtype]
    model = transformers.AutoModel.from_pretrained(
        a.model, attn_implementation="sieve", dtype=dtype).to(a.device).eval()
    by_length = collections.defaultdict(list)
    for i, t in enumerate(ids):
        by_length[len(t)].append(i)

    def embed_all():
        out = torch.empty(len(ids), model.config.hidden_size, dtype=torch.float32)
        with torch.no_grad():
            for n, members in by_length.items():
                for s in range(0, len(members), a.batch):
                    chunk = members[s:s + a.batch]
                    # One batch size per length (the last batch topped up with
                    # copies, dropped after), so sieve compiles one kernel per
                    # mask, layer and length rather than two.
                    rows = chunk + chunk[:1] * (min(a.batch, len(members)) - len(chunk))
                    x = torch.tensor([ids[i] for i in rows], device=a.device)
                    states = model(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state
                    pooled = states.float().mean(dim=1)[:len(chunk)]
                    out[chunk] = torch.nn.functional.normalize(pooled, dim=-1).cpu()
        return out

    def score(emb):
        q, d = emb[:len(pairs)].double(), emb[len(pairs):].double()
        sims = q @ d.T
        own = sims.diagonal().unsqueeze(1)
        ranks = (1 + (sims > own).sum(dim=1)).tolist()
        return {"ranks": ranks, "recall_at_1": sum(r == 1 for r in ranks) / len(ranks),
                "mrr": sum(1 / r for r in ranks) / len(ranks)}

    start = time.time()
    sieve_hf.use_masks(model, None)
    dense = score(embed_all())
    print(f"retrieval-gpu: dense recall@1 {dense['recall_at_1']:.3f}, {time.time() - start:.0f} s",
          flush=True)
    rows = collections.OrderedDict()
    device = (torch.cuda.get_device_name(a.device) if a.device.startswith("cuda")
              else a.device)

    def write(complete):
        # After every mask set, through a temporary name: a call cut short
        # by its time limit still returns the rows it finished, marked
        # incomplete (pruning-report.py refuses to print an incomplete run).
        result = dict(index)
        result.pop("masks")
        result.update({"backend": f"{a.device} ({device}, {a.dtype}, transformers + sieve "
                                  "kernels)",
                       "dense": dense, "rows": list(rows.values()), "complete": complete,
                       "seconds": round(time.time() - start, 1)})
        with open(a.out + ".tmp", "w") as f:
            json.dump(result, f, indent=1)
        os.replace(a.out + ".tmp", a.out)

    for m in index["masks"]:
        row = rows.setdefault(m["sparsity"], {"sparsity": m["sparsity"], "random": []})
        sieve_hf.use_masks(model, os.path.join(a.masks, m["file"]))
        entry = {"nominal_density": m["nominal_density"], "as_run_density": m["as_run_density"]}
        entry.update(score(embed_all()))
        if m["kind"] == "random":
            entry["seed"] = m["seed"]
            row["random"].append(entry)
        else:
            row[m["kind"]] = entry
        print(f"retrieval-gpu: p={m['sparsity']}% {m['file']}: recall@1 {entry['recall_at_1']:.3f}"
              f" MRR {entry['mrr']:.3f}, {time.time() - start:.0f} s", flush=True)
        write(complete=False)
    write(complete=True)
    print(f"retrieval-gpu: wrote {a.out}")


if __name__ == "__main__":
    main()
