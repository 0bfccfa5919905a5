#!/bin/sh
# Start a UiPath process through orchd and print the first job's id.
# Needs socat. Usage: start.sh PROCESS
sock=${ORCHD_SOCKET:-/run/orchd/orchd.sock}
answer=$(printf 'START "%s"\n' "$1" | socat - "UNIX-CONNECT:$sock") || exit 3
case $answer in
OK*) printf '%s\n' "$answer" | sed 's/^OK {"jobs":\[{"id":\([0-9]*\).*/\1/' ;;
*) printf 'orchd: %s\n' "$answer" >&2; exit 1 ;;
esac
