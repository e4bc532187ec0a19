#!/usr/bin/env bash
# What a GPU machine needs beside the checkout, for benchmarks/gpu_full_grid.sh (run here, where pip works):
#
#   bash benchmarks/gpu_wheels.sh [MITDB_DIR] [SVDB_DIR]
#
# - .whl/: the wheels its Python 3.12 lacks (its image has JAX with CUDA, numpy, scipy, scikit-learn, pandas,
#   matplotlib, tabulate, h5py, rich, absl-py, ml-dtypes; not Keras, imbalanced-learn or wfdb: see
#   /work/.library/device/KINDS.md), at the versions installed here, so both machines run the same code;
# - .gpu/mitdb.tar.xz and .gpu/svdb.tar.xz: the records (default ../shared/data/mitdb and ../shared/data/svdb).
#
# Both folders are git-ignored (.git/info/exclude); the run's `carry` names them. Prints what travels and its
# size: the device takes 64 MiB with the checkout, so move results/ out of the tree for the call.
set -euo pipefail
MITDB=${1:-../shared/data/mitdb}
SVDB=${2:-../shared/data/svdb}
cd "$(dirname "$0")/.."
for ignored in /.whl/ /.gpu/; do
    grep -qxF "$ignored" .git/info/exclude 2>/dev/null || echo "$ignored" >>.git/info/exclude
done
version() { python -c "import importlib.metadata as m; print(m.version('$1'))"; }
rm -rf .whl
mkdir -p .whl .gpu
for name in keras namex optree imbalanced-learn sklearn-compat wfdb; do
    python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$name==$(version "$name")"
done
[ -f "$MITDB/100.hea" ] || { echo "$MITDB: no mitdb records (100.hea)" >&2; exit 1; }
tar -cJf .gpu/mitdb.tar.xz -C "$(dirname "$MITDB")" "$(basename "$MITDB")"
if [ -f "$SVDB/800.hea" ]; then
    tar -cJf .gpu/svdb.tar.xz -C "$(dirname "$SVDB")" "$(basename "$SVDB")"
fi
ls -la .whl .gpu
du -ch .whl .gpu | tail -1
echo "tree without results/ and .git: $(du -sh --exclude=.git --exclude=results --exclude=.whl --exclude=.gpu . | cut -f1)"
