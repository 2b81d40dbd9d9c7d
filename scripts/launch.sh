#!/usr/bin/env bash
# Runs src/cmd/<name>.ts: its bundle dist/bundle/<name>.mjs when that is up to date with src/
# (npm run build, scripts/bundle.mjs), otherwise straight from the TypeScript source through tsx.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="$1"; shift
# V8's heap sizing for the long-running services: a young generation of at most 3 x 4 MB
# (--max-semi-space-size=4; V8's default grows it to 3 x 16 MB under load). Measured with
# bench/api.ts: the API 100-110 MB resident instead of 118-160, the conductor 92-95 instead of
# 112-114, with no lower throughput on the 1,000-cluster detail page (83-85% of the floor against
# 42-75% without, same runs); test/acceptance/multi-process.test.ts (200 creates, 2 conductors,
# 3-second leases) passed 3 of 3 with it. (--heap-growing-percent=50 with a 2 MB semi-space made
# the conductor miss 3-second lease renewals in that test: 2 failures in 4 runs; not used.)
# The conductor alone: a young generation of 3 x 1 MB and V8's optimize-for-size mode (smaller
# heap growth steps and code). bench/api.ts, two alternating pairs of full runs: the conductor
# 79-81 MB after the run and 80-81 MB 10 s later (while it works off the queued creates), against
# 89 and 102-103 MB with the API's flags; POST 620-735 req/s against 636-689. multi-process.test.ts
# passed 7 of 7 with it (2 beside two busy loops); its 200 creates took 7.39-7.51 s against
# 7.13-7.31 s with the API's flags (two alternating pairs): about 3% more conductor CPU. The API
# keeps 4 MB: 2 MB cost its cached GETs (14-17% of the floor against 17-25%).
# --heap-growing-percent=50 on the API (a full collection once the old generation has grown by
# half instead of by up to 4x): after a run of cached GETs alone the API kept 76 MB instead of up
# to 143 (the old generation fills with requests promoted while they waited, until V8's memory
# reducer collects about 40 s after the load stops), but after a full bench/api.ts run the pair
# read 176-180 MB against 176-177 without, and the 1,000-cluster detail page took 2,235-2,289 us
# of API CPU per request against 1,755-1,890 (two alternating pairs of runs): not used.
v8=()
case "$name" in
  api|all-in-one) v8=(--max-semi-space-size=4 --expose-gc) ;;
  conductor) v8=(--max-semi-space-size=1 --optimize-for-size) ;;
esac
# --expose-gc: the API collects its heap in full once it is idle after a burst of requests
# (src/common/idle-gc.ts): its old generation otherwise grows to several times what is live.
# glibc's malloc gives each thread that meets a busy arena one of its own (up to 8 per core), and
# memory freed in an arena stays resident there: an API held 9.7-10.3 MB in 9 thread arenas after
# a bench/api.ts --only POST run (its V8 threads compile and mark off the main thread; libuv's
# pool). With at most 2 arenas its malloc'd memory was 9.6 MB instead of 14.5-15.1 (smaps), and
# the next full bench/api.ts run read the pair at 174-175 MB with no more CPU per cached GET
# (40-47 us). The price: the 1,000-cluster detail page took 2,264-2,269 us of API CPU per request
# against 2,051-2,118 with 16 arenas (--only detail, two alternating pairs; 80-83% of the floor
# against 81-88%). The conductor showed no gain (its malloc'd memory 11.4 MB against 10.1) and
# keeps glibc's default. A value set by the caller is kept.
case "$name" in
  api|all-in-one) export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" ;;
esac
# MAGNUM_DIST=DIR runs another built tree (bench/api.ts and bench/scale.ts --built DIR): its
# bundle, or for a tree built before the bundles (tsc's output) its dist/src/cmd/<name>.js.
if [ -n "${MAGNUM_DIST:-}" ]; then
  if [ -f "$MAGNUM_DIST/bundle/$name.mjs" ]; then exec node "${v8[@]}" "$MAGNUM_DIST/bundle/$name.mjs" "$@"; fi
  exec node "${v8[@]}" --enable-source-maps "$MAGNUM_DIST/src/cmd/$name.js" "$@"
fi
stamp="$here/dist/.stamp"
# The bundles hold the libraries' code too: a package-lock.json newer than them (an npm install
# since) means they are stale like a newer source file does.
if [ -f "$stamp" ] && [ -f "$here/dist/bundle/$name.mjs" ] && [ ! "$here/package-lock.json" -nt "$stamp" ] \
  && [ -z "$(find "$here/src" -name '*.ts' -newer "$stamp" -print -quit)" ]; then
  exec node "${v8[@]}" "$here/dist/bundle/$name.mjs" "$@"
fi
exec node "${v8[@]}" --import "$here/node_modules/tsx/dist/esm/index.mjs" "$here/src/cmd/$name.ts" "$@"
