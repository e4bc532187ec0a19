#!/usr/bin/env bash
# One piece of a grid on a lent GPU machine, packed for the trip back (issue #27).
#
#   ECG_BENCH_COMMIT=<sha> bash benchmarks/gpu_full_grid.sh OUT SPLITS MODELS [-- run_benchmark.py options]
#
#   OUT     the folder whose files come back ($OUT on the device machine)
#   SPLITS  comma-separated: intra,inter
#   MODELS  comma-separated, in the order to train them: lstm,resnet,cnn,mlp
#
# What it does, in order, each step logged to OUT/gpu_full_grid.log with the seconds since it started:
#   1. installs the wheels carried in $WHEELS (default .whl/) with --no-deps into $WORK/site, where any;
#   2. unpacks the records: $DATA is a directory of mitdb records, or a tar (.tar.xz) of one (default
#      .gpu/mitdb.tar.xz); $SVDB likewise for svdb (default .gpu/svdb.tar.xz; absent: no svdb scoring);
#   3. for each split, each model: `run_benchmark.py --grid $GRID --split S --models M` (KERAS_BACKEND=jax:
#      the packed executor on a GPU; the run store resumes, so a cell already done is never retrained),
#      started only when its estimated time (below) still fits in $LIMIT_S, and stopped by `timeout`
#      before the packing's share of the limit; then `evaluate --on test` and, with svdb, `--on svdb`,
#      on the saved models of this piece;
#   4. packs every finished or failed run, each grid's manifest, test part and evaluations into
#      OUT/runs.tar.xz.part0, part1, ... ($PART_MB MiB each), with the saved models unless KEEP_MODELS=0
#      or they would take the parts over $RETURN_MB MiB (the trip back takes 64 MiB): then without them,
#      and the log says so. Reports are not packed: `benchmarks/gpu_unpack.py` merges the parts into
#      results/ and rebuilds them.
#
# Exit status: 0 when every planned (split, model) trained, 3 when some were left for a later piece (the
# log names them), 1 on a failure; what finished is packed in every case, so nothing finished is lost.
# The records and the wheels: benchmarks/gpu_wheels.sh makes them here.
#
# Settings (environment): GRID (full), LIMIT_S (560: one command may run 600 s), PACK_S (40: seconds
# kept for evaluation and packing per split), WORK (/tmp/ecg-gpu), PYTHON (python3), EST_SCALE (1: the
# estimates' multiplier; 0 starts every piece), KEEP_MODELS (1), PART_MB (15), RETURN_MB (60),
# ECG_BENCH_COMMIT (the commit the tree was sent from: the device's copy has no usable .git; required on
# a copy without one or with changes).
set -uo pipefail

if [ $# -lt 3 ]; then
    sed -n '2,12p' "$0" >&2
    exit 2
fi
OUT=$1 SPLITS=$2 MODELS=$3
shift 3
[ "${1:-}" = "--" ] && shift
EXTRA=("$@")
[[ " ${EXTRA[*]:-} " == *" --pack-size "* ]] || EXTRA+=(--pack-size "${PACK_SIZE:-30}")
GRID=${GRID:-full} LIMIT_S=${LIMIT_S:-560} PACK_S=${PACK_S:-40} WORK=${WORK:-/tmp/ecg-gpu}
PYTHON=${PYTHON:-python3} EST_SCALE=${EST_SCALE:-1} KEEP_MODELS=${KEEP_MODELS:-1} PART_MB=${PART_MB:-15} RETURN_MB=${RETURN_MB:-60}
WHEELS=${WHEELS:-.whl} DATA=${DATA:-.gpu/mitdb.tar.xz} SVDB=${SVDB:-.gpu/svdb.tar.xz}
START=$SECONDS
mkdir -p "$OUT" "$WORK"
LOG=$OUT/gpu_full_grid.log

say() { echo "[gpu_full_grid $(date -u +%H:%M:%S) +$((SECONDS - START))s] $*" | tee -a "$LOG"; }
die() { say "FAILED: $*"; exit 1; }

# Seconds one model's runs of a split take at the full budget on one H200, in one pack of $PACK_SIZE (30: the
# 6 treatments × 5 seeds; the default --pack-size of 25 would leave a second pack of 5): 10,000 steps × the
# packed ms per step measured for 25 runs (benchmarks/output/gpu-h200/: resnet 22.94, cnn 17.09, lstm 29.28,
# mlp 0.13) × 30/25, plus compilation and validation; a split's first model also pays for the resampling.
declare -A EST=([resnet]=335 [cnn]=265 [lstm]=410 [mlp]=45)
RESAMPLE_S=60

if [ -z "${ECG_BENCH_COMMIT:-}" ]; then
    ECG_BENCH_COMMIT=$(git rev-parse HEAD 2>/dev/null) && [ -z "$(git status --porcelain --untracked-files=no -- . ':!results' 2>/dev/null)" ] \
        || die "set ECG_BENCH_COMMIT to the commit this tree was sent from (a clean checkout's git rev-parse HEAD)"
fi
export ECG_BENCH_COMMIT KERAS_BACKEND=${KERAS_BACKEND:-jax} PYTHONUNBUFFERED=1
say "commit $ECG_BENCH_COMMIT, grid $GRID, splits $SPLITS, models $MODELS, limit ${LIMIT_S}s, extra: ${EXTRA[*]:-none}"

# 1. wheels
if compgen -G "$WHEELS/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" \
        "$WHEELS"/*.whl >>"$LOG" 2>&1 || die "installing the wheels in $WHEELS"
    export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
    say "installed $(ls "$WHEELS"/*.whl | wc -l) wheels from $WHEELS"
fi

# 2. records: a directory as it is, a tar unpacked once; the folder holding the records' .hea files
records() {  # $1: directory or tar; $2: name
    local src=$1 name=$2 dir
    if [ -d "$src" ]; then
        dir=$src
    elif [ -f "$src" ]; then
        mkdir -p "$WORK/data/$name"
        tar -xf "$src" -C "$WORK/data/$name" || die "unpacking $src"
        dir=$WORK/data/$name
    else
        return 1
    fi
    dir=$(dirname "$(find "$dir" -name '*.hea' -print -quit)")
    [ "$dir" != "." ] || die "$src: no WFDB records (*.hea) in it"
    echo "$dir"
}
MITDB=$(records "$DATA" mitdb) || die "$DATA: neither a directory nor a tar of the mitdb records"
SVDB_DIR=$(records "$SVDB" svdb) || SVDB_DIR=""
say "mitdb records in $MITDB ($(ls "$MITDB"/*.hea | wc -l) records)${SVDB_DIR:+; svdb in $SVDB_DIR}"

# 3. train, piece by piece
RESULTS=$WORK/results
STATUS=0
left_out=()
for split in ${SPLITS//,/ }; do
    first=1 trained=0
    for model in ${MODELS//,/ }; do
        need=$(( (${EST[$model]:-300} + first * RESAMPLE_S) * EST_SCALE ))
        left=$(( LIMIT_S - (SECONDS - START) - PACK_S ))
        if (( left < need )); then
            say "not started: $split $model (about ${need}s needed, ${left}s left): a later piece"
            left_out+=("$split/$model")
            STATUS=3
            continue
        fi
        say "training $split $model (estimate ${need}s, ${left}s left)"
        timeout --signal=INT --kill-after=30 "$left" "$PYTHON" run_benchmark.py --grid "$GRID" --split "$split" \
            --models "$model" --data-dir "$MITDB" --results-dir "$RESULTS" --cache-dir "$WORK/cache" "${EXTRA[@]}" \
            >>"$LOG" 2>&1
        rc=$?
        first=0
        if (( rc == 0 )); then
            trained=1
            say "trained $split $model"
        else
            say "run_benchmark.py exited $rc for $split $model (124: stopped at the limit); its finished runs are kept"
            left_out+=("$split/$model")
            STATUS=1
        fi
    done
    (( trained )) || continue
    for on in test ${SVDB_DIR:+svdb}; do
        where=(--data-dir "$MITDB")
        [ "$on" = svdb ] && where+=(--svdb-dir "$SVDB_DIR")
        if "$PYTHON" run_benchmark.py evaluate --grid "$GRID" --split "$split" --on "$on" "${where[@]}" \
            --results-dir "$RESULTS" --cache-dir "$WORK/cache" "${EXTRA[@]}" >>"$LOG" 2>&1; then
            say "evaluated $split on $on"
        else
            say "evaluate --on $on failed for $split"
            STATUS=1
        fi
    done
done

# 4. pack what finished: manifests, test parts, evaluations, and every run with metrics.json or error.json
pack() {  # $1: 1 to take the saved models along
    local skip=()
    [ "$1" = 1 ] || skip=(! -name 'model.*')
    (cd "$RESULTS" && for grid in */*/; do
        [ -f "${grid}grid.json" ] || continue
        for f in grid.json test_labels.npy test_records.npy; do [ -f "$grid$f" ] && echo "$grid$f"; done
        [ -d "${grid}evaluations" ] && find "${grid}evaluations" -maxdepth 1 -type f ! -name '*.tmp'
        for run in "$grid"runs/*/; do
            [ -f "${run}metrics.json" ] || [ -f "${run}error.json" ] || continue
            find "$run" -maxdepth 1 -type f ! -name '*.tmp' "${skip[@]}"
        done
    done) | sed 's#//*#/#g' >"$WORK/pack.list"
    rm -f "$OUT"/runs.tar.xz.part*
    (cd "$RESULTS" && tar -cf - -T "$WORK/pack.list" | xz -T0 -6) \
        | split -b "${PART_MB}M" -d -a 1 - "$OUT/runs.tar.xz.part" || die "packing the runs"
}
if [ -d "$RESULTS" ]; then
    pack "$KEEP_MODELS"
    size=$(du -cm "$OUT"/runs.tar.xz.part* | tail -1 | cut -f1)
    if (( size > RETURN_MB )) && [ "$KEEP_MODELS" = 1 ]; then  # the trip back takes 64 MiB in 8 files
        say "the runs with their saved models take ${size} MiB, over ${RETURN_MB}: packed again without the models" \
            "(the same command retrains them: same seeds, deterministic kernels)"
        pack 0
    fi
    runs=$(grep -c '/metrics.json$' "$WORK/pack.list")
    failed=$(grep -c '/error.json$' "$WORK/pack.list")
    models=$(grep -c '/model\.[a-z]*$' "$WORK/pack.list")
    say "packed $runs finished and $failed failed run(s), $models saved model(s), into" \
        "$(ls "$OUT"/runs.tar.xz.part* | wc -l) part(s), $(du -ch "$OUT"/runs.tar.xz.part* | tail -1 | cut -f1)"
else
    say "no run finished: nothing to pack"
fi
(( ${#left_out[@]} )) && say "left for a later piece: ${left_out[*]}"
say "done in $((SECONDS - START))s, status $STATUS"
exit $STATUS
