"""The merge of partial attestation records (tests/device/run.sh runs the GPU
suite in shards and merges their records): the committed record, split into
parts that each hold part of every configuration's cases as a shard would,
merges back into the same configurations and digests; a part is refused by
--attest-check; parts from different commits do not merge.

    python3 attestation_merge_test.py SIEVE_DEVICE_TESTS RECORD
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile


def digest_of_cases(cases):
    text = "".join(name + "".join("\t" + d for d in cases[name]) + "\n" for name in sorted(cases))
    return hashlib.sha256(text.encode()).hexdigest()


def split(record, parts):
    out = []
    for i in range(parts):
        part = json.loads(json.dumps(record))
        part["part_of"] = f"shard {i} of {parts}"
        configs = {}
        for name, c in part["configurations"].items():
            names = sorted(c["cases"])[i::parts]
            if not names:
                continue
            c["cases"] = {n: c["cases"][n] for n in names}
            c["passed"], c["skipped"] = len(names), 0
            c["kernels_sha256"] = digest_of_cases(c["cases"])
            configs[name] = c
        part["configurations"] = configs
        part["suite"] = {"passed": sum(len(c["cases"]) for c in configs.values()), "skipped": 0}
        out.append(part)
    return out


def main():
    binary, record_path = sys.argv[1], sys.argv[2]
    with open(record_path) as f:
        record = json.load(f)
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, part in enumerate(split(record, 3)):
            paths.append(os.path.join(tmp, f"part-{i}.json"))
            with open(paths[-1], "w") as f:
                json.dump(part, f)
        merged_path = os.path.join(tmp, "merged.json")
        run = subprocess.run([binary, f"--attest-merge={merged_path}", "--attest-parts=" + ",".join(paths)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            failures.append(f"merge failed: {run.stdout}{run.stderr}")
        else:
            with open(merged_path) as f:
                merged = json.load(f)
            if "part_of" in merged:
                failures.append("the merged record still says it is a part")
            want = {n: c["kernels_sha256"] for n, c in record["configurations"].items()}
            got = {n: c["kernels_sha256"] for n, c in merged["configurations"].items()}
            if want != got:
                failures.append(f"merged digests differ in {sorted(set(want.items()) ^ set(got.items()))[:3]}")
            cases = sum(len(c["cases"]) for c in record["configurations"].values())
            if merged["suite"]["passed"] != cases:
                failures.append(f"merged passed count {merged['suite']['passed']}, want {cases}")

        check = subprocess.run([binary, f"--attest-check={paths[0]}"], capture_output=True, text=True)
        if check.returncode == 0 or "partial record" not in check.stdout:
            failures.append(f"--attest-check accepted a part: {check.stdout}")

        other = json.loads(open(paths[1]).read())
        other["commit"] = "0" * 40
        with open(paths[1], "w") as f:
            json.dump(other, f)
        mixed = subprocess.run([binary, f"--attest-merge={merged_path}.mixed", "--attest-parts=" + ",".join(paths)],
                               capture_output=True, text=True)
        if mixed.returncode == 0 or "different commits" not in mixed.stdout:
            failures.append(f"parts of two commits merged: {mixed.stdout}")
        if os.path.exists(merged_path + ".mixed"):
            failures.append("a refused merge left a file behind")
    for f in failures:
        print("FAILED:", f)
    print("attestation merge:", "FAILED" if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
