"""Does gbench's LapPE depend on the CPU kernel OpenBLAS picks? (not in CI: a diagnostic)

`python benchmarks/lappe_cpu_dependence.py` computes `gbench.data.transforms.laplacian_eigvecs` (k=16) on a 40-node
ring (every non-zero Laplacian eigenvalue repeated twice) and on a random graph (no repeated eigenvalues), once per
`OPENBLAS_CORETYPE`, each in a fresh process (OpenBLAS reads the variable when it loads), and prints a hash of each
result rounded to 5 decimals. Within a repeated eigenvalue's eigenspace any orthonormal basis is correct, and which
one `numpy.linalg.eigh` returns depends on the kernel; fixing signs cannot remove that. Equal hashes across kernels
for the random graph and different ones for the ring mean that LapPE numbers on symmetric graphs (the structural
tasks) are tied to the CPU they were computed on.
"""

from __future__ import annotations

import os
import subprocess
import sys

CORE_TYPES = ["", "SkylakeX", "Haswell", "Zen", "Sandybridge"]

CHILD = """
import hashlib, numpy as np, torch
from gbench.data.transforms import laplacian_eigvecs
n = 40
ring = torch.tensor([list(range(n)), [(i + 1) % n for i in range(n)]])
rand = torch.randint(0, n, (2, 120), generator=torch.Generator().manual_seed(0))
for name, ei in (("ring", ring), ("random", rand)):
    v = laplacian_eigvecs(ei, n, 16).numpy()
    print(name, hashlib.sha256(np.round(v, 5).tobytes()).hexdigest()[:12])
"""


def main() -> None:
    print(f"{'OPENBLAS_CORETYPE':<20} {'graph':<8} hash of the 40x16 PE")
    for core in CORE_TYPES:
        env = {**os.environ, "OPENBLAS_CORETYPE": core} if core else {
            k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
        done = subprocess.run([sys.executable, "-W", "ignore", "-c", CHILD], env=env, capture_output=True, text=True)
        if done.returncode < 0:  # e.g. SIGILL: SkylakeX's AVX-512 kernels on a CPU without AVX-512
            print(f"{core or '(default)':<20} {'-':<8} not runnable on this CPU (signal {-done.returncode})")
            continue
        done.check_returncode()
        for line in done.stdout.split("\n"):
            if line.strip():
                graph, digest = line.split()
                print(f"{core or '(default)':<20} {graph:<8} {digest}")


if __name__ == "__main__":
    main()
