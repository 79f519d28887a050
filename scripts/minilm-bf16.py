#!/usr/bin/env python3
"""The all-MiniLM-L6-v2 weights in bfloat16, for the GPU runs (which compute
in bf16 anyway): 45 MB instead of 87, about 32 MB with xz, so they fit the
device's 64 MiB carry beside the sieve module.

usage: minilm-bf16.py MODEL.safetensors OUT.safetensors  (needs torch and safetensors)
"""
import sys

import torch
from safetensors.torch import load_file, save_file


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    weights = load_file(sys.argv[1])
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in weights.items()}, sys.argv[2],
              metadata={"format": "pt"})


if __name__ == "__main__":
    main()
