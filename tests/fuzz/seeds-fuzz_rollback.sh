#!/bin/sh
# seeds-fuzz_rollback.sh CORPUS: rollback state files (empty, one slot,
# several slots) with their correct checksums.
set -eu
c=$1
mkdir -p "$c"
seed() {
	printf 'ukit-rollback-state 1\n%b' "$2" >"$c/$1"
	printf 'sha256 %s\n' "$(sha256sum <"$c/$1" | cut -d' ' -f1)" >>"$c/$1"
}
seed empty ''
seed one 'slot default 5\n'
seed three 'slot a 0\nslot b.2 9223372036854775807\nslot default 17\n'
