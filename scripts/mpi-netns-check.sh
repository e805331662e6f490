#!/usr/bin/env bash
# Two "hosts" on one machine: two network namespaces joined by a veth pair (10.203.0.1 and 10.203.0.2, addresses
# that exist only inside them), each with its own hostname. mpirun starts in host A, reaches host B through
# scripts/mpi/netns-agent.sh (instead of ssh), and the ranks talk over Open MPI's TCP transport only (no shared
# memory). The run must give the same losses and adapter as one process with the same global batch; then host B's
# link is cut mid-run and the job must end within 120 s, leaving a checkpoint that resumes. Needs root
# (ip netns); removes the namespaces on exit. About a minute. With --bench it then times the gradient all-reduce
# over that TCP link (`lorakit bench allreduce`; wrap it in flock like every benchmark).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${LORAKIT:-.build/release/lorakit}")
recipe=Tests/Fixtures/training/tiny-llama/recipe.yaml
work=$(mktemp -d /tmp/lorakit-netns-check.XXXXXX)
cleanup() {
    # Processes still inside the test's own namespaces (a daemon cut off by the network test) end with them.
    for ns in lorakit-hostA lorakit-hostB; do ip netns pids $ns 2>/dev/null | xargs -r kill -9 2>/dev/null || true; done
    ip netns del lorakit-hostA 2>/dev/null || true
    ip netns del lorakit-hostB 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cleanup; mkdir -p "$work"
ip netns add lorakit-hostA
ip netns add lorakit-hostB
ip link add lk-veth-a type veth peer name lk-veth-b
ip link set lk-veth-a netns lorakit-hostA
ip link set lk-veth-b netns lorakit-hostB
ip -n lorakit-hostA addr add 10.203.0.1/24 dev lk-veth-a
ip -n lorakit-hostB addr add 10.203.0.2/24 dev lk-veth-b
# After a network cut, mpirun waits for its unreachable daemon until the kernel gives up retransmitting to it
# (net.ipv4.tcp_retries2: 15 by default, about 15 minutes). It is a per-namespace setting: 5 (about 13 s) here only.
ip netns exec lorakit-hostA sh -c 'echo 5 > /proc/sys/net/ipv4/tcp_retries2'
ip netns exec lorakit-hostB sh -c 'echo 5 > /proc/sys/net/ipv4/tcp_retries2'
ip -n lorakit-hostA link set lo up
ip -n lorakit-hostB link set lo up
ip -n lorakit-hostA link set lk-veth-a up
ip -n lorakit-hostB link set lk-veth-b up
printf '10.203.0.1 slots=1\n10.203.0.2 slots=1\n' > "$work/hostfile"
common=(--set lora.lora_dropout=0 --set training.max_steps=8 --set training.gradient_accumulation_steps=2
        --set eval.every=4 --set save.save_every=4)

"$bin" train "$recipe" "${common[@]}" --set training.batch_size=4 --set save.output_dir="$work/one" > "$work/one.log" 2>&1 \
    || { cat "$work/one.log"; exit 1; }
# mpirun as host A would run it: its own hostname, only host A's interface.
on_host_a=(timeout 300 ip netns exec lorakit-hostA unshare --uts sh -c 'hostname lorakit-hostA && exec "$@"' sh)
mpi=(mpirun --allow-run-as-root --hostfile "$work/hostfile" -np 2 --map-by node
     --mca plm_rsh_agent "$PWD/scripts/mpi/netns-agent.sh" --mca plm_rsh_no_tree_spawn 1
     --mca btl tcp,self --mca btl_tcp_if_include 10.203.0.0/24 --mca oob_tcp_if_include 10.203.0.0/24 --mca pml ob1
     # mpirun watches its daemons over TCP; by default a silent peer is declared lost after 300 + 9 × 20 s of keepalive.
     --mca oob_tcp_keepalive_time 10 --mca oob_tcp_keepalive_intvl 5 --mca oob_tcp_keepalive_probes 3)
# Each rank must run in its own namespace: rank r sees only its own 10.203.0.x address.
placement=$("${on_host_a[@]}" "${mpi[@]}" sh -c 'echo "rank $OMPI_COMM_WORLD_RANK on $(hostname) $(ip -4 -o addr show | grep -o "10\.203\.0\.[0-9]*")"')
echo "$placement"
grep -qx "rank 0 on lorakit-hostA 10.203.0.1" <<< "$placement" && grep -qx "rank 1 on lorakit-hostB 10.203.0.2" <<< "$placement" \
    || { echo "netns-check: the ranks did not run one per namespace"; exit 1; }
echo "netns-check: mpirun over TCP between namespaces lorakit-hostA and lorakit-hostB"
"${on_host_a[@]}" "${mpi[@]}" \
    "$bin" train "$PWD/$recipe" "${common[@]}" --set training.batch_size=2 --set save.output_dir="$work/two" \
    > "$work/two.log" 2>&1 || { cat "$work/two.log"; exit 1; }
grep -E "ranks, parameters identical|gradient all-reduce" "$work/two.log"
python3 scripts/mpi/compare-runs.py "$work/one" "$work/two" checkpoint-8

# The network fails: host B's link goes down mid-run. Each rank's collective watchdog (LORAKIT_MPI_TIMEOUT=10) ends
# it; mpirun must then end too, within a bound, and the last checkpoint (on host A, written by rank 0) must resume.
"${on_host_a[@]}" "${mpi[@]}" -x LORAKIT_MPI_TIMEOUT=10 "$bin" train "$PWD/$recipe" --set training.max_steps=100000 \
    --set training.batch_size=2 --set save.save_every=5 --set eval.every=1000 --set save.output_dir="$work/cut" \
    > "$work/cut.log" 2>&1 &
job=$!
for _ in $(seq 600); do [ -d "$work/cut/checkpoint-10" ] && break; sleep 0.1; done
[ -d "$work/cut/checkpoint-10" ] || { echo "netns-check: the run for the network cut did not reach checkpoint-10"; cat "$work/cut.log"; kill "$job"; exit 1; }
start=$(date +%s)
ip -n lorakit-hostB link set lk-veth-b down
for _ in $(seq 1200); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$job" 2>/dev/null; then echo "netns-check: mpirun still runs 120 s after the network cut"; kill "$job"; cat "$work/cut.log"; exit 1; fi
if wait "$job"; then echo "netns-check: the job exited 0 after the network cut"; exit 1; fi
echo "netns-check: network cut: the job ended $(( $(date +%s) - start )) s later"
tr '\r' '\n' < "$work/cut.log" | grep -E "did not join|lost|error" | head -4 || true
last=$(ls -d "$work/cut"/checkpoint-* | sed 's/.*checkpoint-//' | sort -n | tail -1)
"$bin" train "$recipe" --set training.max_steps=100000 --set training.batch_size=4 --set save.save_every=5 \
    --set eval.every=1000 --set save.output_dir="$work/cut" --resume --stop-at $((last + 2)) > "$work/cut-resume.log" 2>&1 \
    || { cat "$work/cut-resume.log"; exit 1; }
grep -q "resumed from .*checkpoint-$last" "$work/cut-resume.log"
echo "netns-check: checkpoint-$last resumes after the network cut"
echo "netns-check: passed"
if [ "${1:-}" = --bench ]; then
    "${on_host_a[@]}" "${mpi[@]}" "$bin" bench allreduce --repeats 20
fi
