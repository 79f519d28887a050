"""A results file written whole or not at all: JSON into a temporary name
beside it, then renamed over it, so a run stopped mid-write (a device
call's time limit) leaves the last complete file."""
import json
import os


def write_atomically(path, data):
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=1)
    os.replace(path + ".tmp", path)
