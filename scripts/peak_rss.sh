#!/usr/bin/env bash
# Peak host memory (RSS) of `trainhost train` on the largest table the default
# [limits] accept: ROWS x COLS cells (default 1,000,000 x 32 = max_table_cells),
# 31 numeric features and a 3-class label, written as CSV. Not part of the tests.
#
#   scripts/peak_rss.sh                      # uses target/{release,debug}/trainhost
#   TRAINHOST_BIN=/path/to/trainhost ROWS=500000 scripts/peak_rss.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${ROWS:-1000000}"
cols="${COLS:-32}"
plugin="${PLUGIN:-baseline}"
target="${CARGO_TARGET_DIR:-target}"
bin="${TRAINHOST_BIN:-}"
if [[ -z "$bin" ]]; then
  for candidate in "$target/release/trainhost" "$target/debug/trainhost"; do
    [[ -x "$candidate" ]] && { bin="$candidate"; break; }
  done
fi
[[ -x "$bin" ]] || { echo "no trainhost binary: build it, or set TRAINHOST_BIN" >&2; exit 1; }
[[ -f "build/plugins/$plugin.wasm" ]] || { echo "build/plugins/$plugin.wasm is missing: run scripts/build-plugins" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "writing a ${rows} x ${cols} table to $work/table.csv ..." >&2
python3 - "$work/table.csv" "$rows" "$cols" <<'PY'
import random, sys
path, rows, cols = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(7)
with open(path, "w") as out:
    out.write(",".join([f"x{i}" for i in range(cols - 1)] + ["label"]) + "\n")
    for _ in range(rows):
        values = [rng.random() for _ in range(cols - 1)]
        label = "abc"[int(values[0] * 3)]
        out.write(",".join(f"{v:.6f}" for v in values) + "," + label + "\n")
PY
ls -l "$work/table.csv" >&2
# The default config: only the plugin directory and a data dir of its own.
printf 'plugin_dir = "%s"\n[storage]\ndata_dir = "%s"\n' "$PWD/build/plugins" "$work/data" > "$work/trainhost.toml"
# TRAINHOST_BIN is this script's, not a config override (the host reads TRAINHOST_* as settings).
env -u TRAINHOST_BIN /usr/bin/time -v "$bin" --config "$work/trainhost.toml" train --plugin "$plugin" --task classification --target label \
  --data "$work/table.csv" --out "$work/model.trainhost" > "$work/stdout" 2> "$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
grep -E "Maximum resident set size|Elapsed \(wall clock\)" "$work/stderr" >&2
kib=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$work/stderr")
echo "peak RSS: $((kib / 1024)) MiB for ${rows} x ${cols} cells ($(( rows * cols )) cells) with $bin"
