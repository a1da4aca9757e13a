#!/bin/sh
# The whole test suite N times in a row (default 5) while two busy loops take the CPU,
# as on a shared 2-core machine: every run must be green.  Extra arguments go to pytest.
#
#   sh tests/stress-suite.sh            # 5 runs of the README's test command
#   sh tests/stress-suite.sh 20 tests/pipeline/test_runner.py
#
# Run it after `.venv/bin/pip install '.[test]'` (the README's test command).  It stops
# only the busy loops it started.
set -u
cd "$(dirname "$0")/.."
runs=${1:-5}
[ $# -gt 0 ] && shift
yes >/dev/null &
busy1=$!
yes >/dev/null &
busy2=$!
trap 'kill "$busy1" "$busy2" 2>/dev/null' EXIT
trap 'exit 130' INT TERM
failed=0
i=1
while [ "$i" -le "$runs" ]; do
    start=$(date +%s)
    if .venv/bin/python -m pytest -q -p no:cacheprovider "$@" >".stress-run.log" 2>&1; then
        verdict=green
    else
        verdict=FAILED
        failed=$((failed + 1))
        cp .stress-run.log ".stress-run-$i.log"
    fi
    echo "run $i/$runs: $verdict in $(($(date +%s) - start)) s: $(tail -n 1 .stress-run.log)"
    i=$((i + 1))
done
rm -f .stress-run.log
echo "$((runs - failed))/$runs runs green with two busy loops"
[ "$failed" -eq 0 ]
