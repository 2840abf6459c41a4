#!/usr/bin/env bash
# Reproduces the figures of docs/risk-performance.md in one command, on the same synthetic venue
# (100 000 accounts, BTC and ETH, ~1 000 listed options per underlying, default ramm grid):
#   1. exports the venue's scenario inputs and the engine's scenario P&L (export_venue);
#   2. runs the numpy peer on them (one core), which checks its P&L against the engine's;
#   3. runs the engine's criterion benches (cargo bench -p ale-risk --bench engine);
#   4. runs venue_figures: liquidation prices of every account, the fast path against the
#      single-account solver on a sample, peak memory.
# Outputs go to target/ale-perf/ (peer.json, bench.txt, figures.json). Usage: run.sh [RUNS]
# (default 2: the peer, the bench and the figures each run RUNS times; report the best).
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-2}"
out=target/ale-perf
mkdir -p "$out"
python3 -c "import numpy, scipy" 2>/dev/null || {
    echo "run.sh: the peer needs numpy and scipy (pip install numpy scipy)" >&2
    exit 2
}
cargo build --release -p ale-risk --example export_venue --example venue_figures
target/release/examples/export_venue target/venue-export >/dev/null
lscpu | grep -E "Model name|^CPU\(s\)" | tee "$out/machine.txt"
for i in $(seq "$runs"); do
    python3 benches/peers/numpy_venue.py target/venue-export | tee "$out/peer-$i.json"
done
for i in $(seq "$runs"); do
    cargo bench -p ale-risk --bench engine 2>&1 | tee "$out/bench-$i.txt"
done
for i in $(seq "$runs"); do
    target/release/examples/venue_figures | tee "$out/figures-$i.json"
done
