"""Stops `sieve mask -o OUT` with SIGTERM while it writes OUT, then prints
what the signal left: the exit status and any OUT.tmp.* file.

The write takes milliseconds, so the script polls for the temporary file
and signals as soon as it appears; a run that finished before it was seen
is repeated (a few tries at most). Exits 1 if no try caught the write: the
test must not pass without having checked anything.
"""

import glob
import signal
import subprocess
import sys

sieve, out = sys.argv[1], sys.argv[2]
args = [sieve, "mask", "--heads", "1024", "--seq-q", "8192", "--seq-k", "8192", "--block-q", "64",
        "--block-k", "64", "--density", "0.5", "-o", out]
for attempt in range(10):
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    caught = False
    while child.poll() is None:
        if glob.glob(out + ".tmp.*"):
            child.send_signal(signal.SIGTERM)
            caught = True
            break
    status = child.wait()
    if caught:
        print(f"stopped mid-write by signal {-status}")
        print(f"temporaries left: {len(glob.glob(out + '.tmp.*'))}")
        sys.exit(0)
print("never caught the write in progress", file=sys.stderr)
sys.exit(1)
