#!/bin/sh
# Run each libFuzzer harness for SECONDS, with a seed corpus from
# tests/fuzz/seeds/NAME (made by tests/gen/fuzz-seeds.sh when present), and
# what tests/fuzz/seeds-NAME.sh CORPUS writes (run with sh, executable or
# not).
set -u
secs=$1
shift
status=0
for f in "$@"; do
	name=$(basename "$f")
	corpus=${FUZZBUILD:-build-fuzz}/corpus/$name
	mkdir -p "$corpus" ${FUZZBUILD:-build-fuzz}/crashes
	if [ -f "tests/fuzz/seeds-$name.sh" ]; then
		sh "tests/fuzz/seeds-$name.sh" "$corpus"
	fi
	echo "fuzz: $name for ${secs}s"
	if ! "$f" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
		-artifact_prefix=${FUZZBUILD:-build-fuzz}/crashes/"$name"- "$corpus" \
		>${FUZZBUILD:-build-fuzz}/"$name".log 2>&1; then
		echo "fuzz: $name FAILED, see ${FUZZBUILD:-build-fuzz}/$name.log"
		tail -n 30 ${FUZZBUILD:-build-fuzz}/"$name".log
		status=1
	fi
	grep -E '^#[0-9]+.*(DONE|pulse)' ${FUZZBUILD:-build-fuzz}/"$name".log | tail -n 1
done
exit $status
