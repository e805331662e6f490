#!/usr/bin/env bash
# Data-parallel training under Open MPI on the tiny fixtures (CI runs this; about a minute). Exits 1 on a failure.
#
#  1. Equivalence: `mpirun -np 2` with micro-batch 2 gives the losses, grad norms, eval losses and adapter of one
#     process with batch 4 (same global batch of 4 × 2 accumulation steps), within 1e-6 relative.
#  2. Resume with another N: 2 ranks stop at update 4; one process with batch 4 resumes from that checkpoint and
#     must end where the uninterrupted run of test 1 ended (the checkpoint stores the global data position).
#  3. A killed rank: SIGKILL to rank 1 mid-run ends the whole job within 60 s with a message, and the last
#     checkpoint resumes.
#  4. A hung rank: SIGSTOP on rank 1 with LORAKIT_MPI_TIMEOUT=10 ends the job through rank 0's collective watchdog.
#
# LoRA dropout is set to 0 in the equivalence runs: ranks draw their own dropout masks (as DDP does), so with
# dropout a 2-rank run is a different (equally valid) sample of masks than a 1-process run.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${LORAKIT:-.build/release/lorakit}
[ -x "$bin" ] || { echo "mpi-check: $bin is missing (swift build -c release --product lorakit)"; exit 1; }
recipe=Tests/Fixtures/training/tiny-llama/recipe.yaml
work=$(mktemp -d /tmp/lorakit-mpi-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
# vader's single-copy path needs ptrace rights that containers often lack; copying through shared memory is enough.
mpi=(mpirun --oversubscribe --allow-run-as-root --mca btl_vader_single_copy_mechanism none -np 2)
common=(--set lora.lora_dropout=0 --set training.max_steps=8 --set training.gradient_accumulation_steps=2
        --set eval.every=4 --set save.save_every=4 --set logging.every=1)
failures=0
check() { if "$@"; then echo "mpi-check: ok: $label"; else echo "mpi-check: FAILED: $label"; failures=$((failures + 1)); fi; }

echo "mpi-check: 1 process × batch 4"
"$bin" train "$recipe" "${common[@]}" --set training.batch_size=4 --set save.output_dir="$work/one" > "$work/one.log" 2>&1 \
    || { cat "$work/one.log"; exit 1; }
echo "mpi-check: mpirun -np 2 × batch 2"
"${mpi[@]}" "$bin" train "$recipe" "${common[@]}" --set training.batch_size=2 --set save.output_dir="$work/two" \
    > "$work/two.log" 2>&1 || { cat "$work/two.log"; exit 1; }
grep -E "ranks, parameters identical|gradient all-reduce" "$work/two.log" || true
label="2 ranks × 2 = 1 process × 4 (losses, grad norms, eval losses, adapter; 1e-6 relative)"
check python3 scripts/mpi/compare-runs.py "$work/one" "$work/two" checkpoint-8

echo "mpi-check: 2 ranks stop at 4, 1 process resumes"
"${mpi[@]}" "$bin" train "$recipe" "${common[@]}" --set training.batch_size=2 --set save.output_dir="$work/switch" --stop-at 4 \
    > "$work/switch.log" 2>&1 || { cat "$work/switch.log"; exit 1; }
"$bin" train "$recipe" "${common[@]}" --set training.batch_size=4 --set save.output_dir="$work/switch" --resume \
    > "$work/switch2.log" 2>&1 || { cat "$work/switch2.log"; exit 1; }
grep -q '"data_position"' "$work/switch/checkpoint-4/trainer_state.json"
label="resume with N 2 → 1 continues the global data order (steps 5–8 and the adapter equal the uninterrupted run)"
check python3 scripts/mpi/compare-runs.py "$work/one" "$work/switch" checkpoint-8 --from-step 5

# Faults: a long run (checkpoint every 5 updates); rank 1 is the child of mpirun whose environment says so.
rank1_of() {  # from /proc, as a fresh machine may lack procps
    local stat pid
    for stat in /proc/[0-9]*/stat; do
        pid=${stat#/proc/}; pid=${pid%/stat}
        [ "$(cut -d' ' -f4 "$stat" 2>/dev/null)" = "$1" ] || continue
        tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && { echo "$pid"; return; }
    done
}
fault_run() {  # $1 name, $2 signal: the job must end within 60 s of the signal, with a non-zero status
    local out="$work/$1" start job victim
    LORAKIT_MPI_TIMEOUT=10 "${mpi[@]}" -x LORAKIT_MPI_TIMEOUT "$bin" train "$recipe" --set training.max_steps=100000 \
        --set training.batch_size=2 --set save.save_every=5 --set eval.every=1000 --set save.output_dir="$out" \
        > "$out.log" 2>&1 &
    job=$!
    for _ in $(seq 600); do [ -d "$out/checkpoint-10" ] && break; sleep 0.1; done
    victim=$(rank1_of "$job")
    [ -n "$victim" ] || { echo "mpi-check: rank 1 not found"; kill "$job"; return 1; }
    start=$(date +%s%N)
    kill "-$2" "$victim"
    for _ in $(seq 600); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$job" 2>/dev/null; then
        echo "mpi-check: the job still runs 60 s after SIG$2"; kill -9 "$victim" "$job" 2>/dev/null; return 1
    fi
    kill -9 "$victim" 2>/dev/null || true  # a stopped rank that mpirun did not reap
    if wait "$job"; then echo "mpi-check: the job exited 0 after SIG$2"; return 1; fi
    echo "mpi-check: SIG$2 to rank 1 (pid $victim): the job ended $(( ($(date +%s%N) - start) / 1000000 )) ms later"
}
resumes() {  # the newest checkpoint of run $1 continues for 2 more updates in one process
    local last
    last=$(ls -d "$work/$1"/checkpoint-* | sed 's/.*checkpoint-//' | sort -n | tail -1)
    "$bin" train "$recipe" --set training.max_steps=100000 --set training.batch_size=4 --set save.save_every=5 \
        --set eval.every=1000 --set save.output_dir="$work/$1" --resume --stop-at $((last + 2)) > "$work/$1.resume.log" 2>&1 \
        && grep -q "resumed from .*checkpoint-$last" "$work/$1.resume.log" && echo "mpi-check: resumed from checkpoint-$last"
}
label="a killed rank (SIGKILL) ends the job within 60 s"
check fault_run killed KILL
grep -m2 -iE "signal 9|killed" "$work/killed.log" || true
label="after the killed rank, the last checkpoint resumes"
check resumes killed
label="a hung rank (SIGSTOP) ends the job through the collective watchdog (LORAKIT_MPI_TIMEOUT=10)"
check fault_run hung STOP
grep -m1 -o "lorakit rank [0-9]*: the other ranks did not join[^;]*" "$work/hung.log" || { echo "mpi-check: no watchdog message in hung.log"; failures=$((failures + 1)); }

if ((failures)); then echo "mpi-check: $failures failure(s)"; exit 1; fi
echo "mpi-check: all passed"
