#!/usr/bin/env bash
# Open MPI's rsh launcher agent for the two-namespace test (scripts/mpi-netns-check.sh), in place of ssh: called as
# `netns-agent.sh HOST COMMAND…`, it runs COMMAND (the orted daemon) inside the network namespace that owns HOST's
# address, under its own hostname (a UTS namespace), as ssh would on a real second machine.
set -euo pipefail
host=$1; shift
case "$host" in
    10.203.0.1) ns=lorakit-hostA; name=lorakit-hostA ;;
    10.203.0.2) ns=lorakit-hostB; name=lorakit-hostB ;;
    *) echo "netns-agent: unknown host $host" >&2; exit 1 ;;
esac
exec ip netns exec "$ns" unshare --uts sh -c "hostname $name && exec sh -c \"\$0\"" "$*"
