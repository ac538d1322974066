#!/bin/sh
# Seed corpus for fuzz_qmap: the same small qcow2 images as fuzz_qcow2.
exec sh "$(dirname "$0")/seeds-fuzz_qcow2.sh" "$@"
