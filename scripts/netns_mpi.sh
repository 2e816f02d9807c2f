#!/usr/bin/env bash
# A two-host MPI run on one machine. Creates two network namespaces joined by a veth pair (the two
# "hosts"), trains LeNet with train_lenet_dist with one rank in each, OpenMPI's TCP transport over
# the veth between them, then runs the same program with the same options as 2 ranks on localhost
# and checks that both give the same epoch lines (timings left out) and byte-identical checkpoints
# (parameters and trainer states). Prints PASS or FAIL; exits non-zero on a mismatch or an error.
#
# usage: scripts/netns_mpi.sh [--bin PATH] [--data DIR] [--epochs N] [--batch-size N] [--seed N]
#   --bin     train_lenet_dist (default build/release/examples/train_lenet_dist)
#   --data    Fashion-MNIST folder (default tests/data/fashion-mnist-mini: 100 + 100 images)
#   --epochs  default 2; --batch-size (global) default 32; --seed default 42; one thread per rank.
#
# Needs root: creating namespaces and veth links (ip netns, ip link, unshare) needs CAP_SYS_ADMIN
# and CAP_NET_ADMIN. The addresses 10.199.77.1/24 and .2/24 exist only inside the two namespaces,
# which have no other link than lo and no route out. Both are deleted on exit, even on failure.
#
# How: mpirun runs in namespace A with a hostfile naming hostA and hostB, one slot each (its own
# node is neither, so it starts a daemon on both) through a launch agent written here, in place of
# ssh, that runs the daemon with `ip netns exec <that host's namespace> unshare --uts` under the
# host's name. OpenMPI keeps the hosts apart by their hostfile names, but both namespaces would
# have the machine's hostname and hwloc sees the same cores from both: its default binding puts
# both ranks on core 0 (hence --bind-to none). --mca pml ob1 makes the btl choice apply (not UCX).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=build/release/examples/train_lenet_dist data=tests/data/fashion-mnist-mini epochs=2 batch=32 seed=42
usage() { sed -n '8,11s/^# \{0,1\}//p' "$0"; exit "$1"; }
while (($#)); do
  [[ $1 == -h || $1 == --help ]] && usage 0
  (($# >= 2)) || { echo "netns_mpi: $1 needs a value" >&2; usage 2; }
  case $1 in
    --bin) bin=$2 ;;
    --data) data=$2 ;;
    --epochs) epochs=$2 ;;
    --batch-size) batch=$2 ;;
    --seed) seed=$2 ;;
    *) echo "netns_mpi: unknown option $1" >&2; usage 2 ;;
  esac
  shift 2
done
[[ $EUID -eq 0 ]] || { echo "netns_mpi: needs root (ip netns, ip link)" >&2; exit 1; }
[[ -x $bin ]] || { echo "netns_mpi: no program at $bin (--bin)" >&2; exit 1; }
[[ -d $data ]] || { echo "netns_mpi: no data folder $data (--data)" >&2; exit 1; }
bin=$(realpath "$bin") data=$(realpath "$data")
args=(--data "$data" --epochs "$epochs" --batch-size "$batch" --threads 1 --seed "$seed")
export OMP_NUM_THREADS=1

nsA=gluino-a-$$ nsB=gluino-b-$$ vethA=glu-a-$$ vethB=glu-b-$$ net=10.199.77
work=$(mktemp -d /tmp/netns_mpi.XXXXXX)
export OMPI_MCA_orte_tmpdir_base=$work  # OpenMPI's session folders too, even after a failure
cleanup() {
  local status=$? ns pids
  set +e
  for ns in "$nsA" "$nsB"; do  # end what still runs in them (daemons after a failure), then delete
    mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
    if ((${#pids[@]})); then kill "${pids[@]}" 2>/dev/null; sleep 1; kill -9 "${pids[@]}" 2>/dev/null; fi
    ip netns del "$ns" 2>/dev/null
  done
  ip link del "$vethA" 2>/dev/null  # only there if the setup stopped halfway
  rm -rf "$work"
  ((status == 0)) || echo "FAIL (exit status $status)"
}
trap cleanup EXIT
child=0
stop() { ((child == 0)) || kill "$child" 2>/dev/null; exit "$1"; }
trap 'stop 130' INT
trap 'stop 143' TERM
# Runs "$@" in the background (so that INT and TERM stop it at once), its output on screen and in $1.
logged() {
  local log=$1 status=0
  shift
  : >"$log"  # there before tail looks
  "$@" >"$log" 2>&1 &
  child=$!
  tail -n +1 -s 0.2 -f --pid="$child" "$log" &
  wait "$child" || status=$?
  child=0
  wait $!  # tail prints the rest and stops
  return "$status"
}

ip netns add "$nsA"
ip netns add "$nsB"
ip link add "$vethA" type veth peer name "$vethB"
ip link set "$vethA" netns "$nsA"
ip link set "$vethB" netns "$nsB"
ip -n "$nsA" addr add "$net.1/24" dev "$vethA"
ip -n "$nsB" addr add "$net.2/24" dev "$vethB"
for ns in "$nsA" "$nsB"; do ip -n "$ns" link set lo up; done
ip -n "$nsA" link set "$vethA" up
ip -n "$nsB" link set "$vethB" up

# The launch agent, called like ssh: agent [options] HOST COMMAND...
cat >"$work/agent" <<END
#!/bin/sh
while [ \$# -gt 0 ]; do case \$1 in -[opliF]) shift 2 ;; -*) shift ;; *) break ;; esac; done
host=\$1; shift
case \$host in hostA) ns=$nsA ;; hostB) ns=$nsB ;; *) echo "agent: unknown host \$host" >&2; exit 1 ;; esac
exec ip netns exec "\$ns" unshare --uts sh -c "hostname \$host && \$*"
END
# Each rank says where it runs, then becomes the program.
cat >"$work/where" <<'END'
#!/bin/sh
echo "rank $OMPI_COMM_WORLD_RANK: host $(hostname), netns $(ip netns identify $$) ($(readlink /proc/self/ns/net))" >&2
exec "$@"
END
chmod +x "$work/agent" "$work/where"
printf 'hostA slots=1\nhostB slots=1\n' >"$work/hosts"
mkdir "$work/ns" "$work/ref"

since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
bytes() { ip netns exec "$nsA" cat "/sys/class/net/$vethA/statistics/$1_bytes"; }
tx0=$(bytes tx) rx0=$(bytes rx)
echo "== two namespaces: mpirun in $nsA, ranks on hostA ($nsA, $net.1) and hostB ($nsB, $net.2)"
t0=$EPOCHREALTIME
logged "$work/ns.log" ip netns exec "$nsA" timeout 300 mpirun --allow-run-as-root -x OMP_NUM_THREADS \
  --hostfile "$work/hosts" -np 2 --bind-to none --mca plm_rsh_agent "$work/agent" --mca plm_rsh_no_tree_spawn 1 \
  --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include "$net.0/24" --mca oob_tcp_if_include "$net.0/24" \
  "$work/where" "$bin" "${args[@]}" --output "$work/ns/lenet.safetensors"
t_ns=$(since "$t0")
tx=$(($(bytes tx) - tx0)) rx=$(($(bytes rx) - rx0))

echo "== reference: mpirun -np 2 in the root namespace"
t0=$EPOCHREALTIME
logged "$work/ref.log" timeout 300 mpirun --allow-run-as-root -np 2 -x OMP_NUM_THREADS \
  --mca btl_vader_single_copy_mechanism none \
  "$bin" "${args[@]}" --output "$work/ref/lenet.safetensors"
t_ref=$(since "$t0")

# The least traffic each way: a gradient (as large as the parameters) per step; a step per batch
# of batch / 2 in a rank's half of the training set. A safetensors file: header length (8 bytes), header, data.
params=$work/ns/lenet.safetensors
param_bytes=$(($(stat -c %s "$params") - 8 - $(od -An -tu8 -N8 "$params")))
train=$(sed -n 's/.*Fashion-MNIST: \([0-9]*\) train.*/\1/p' "$work/ns.log")
local_batch=$((batch / 2))
steps=$((epochs * (((train + 1) / 2 + local_batch - 1) / local_batch)))
least=$((steps * param_bytes))

fail=0
check() { if "${@:2}"; then echo "ok    $1"; else echo "FAIL  $1"; fail=1; fi; }
epochs_of() { grep '^epoch' "$1" | sed -E 's/  [0-9.]+ s  [0-9.]+ img\/s$//'; }
echo "== checks"
check "rank 0 ran in $nsA" grep -q "^rank 0: host hostA, netns $nsA " "$work/ns.log"
check "rank 1 ran in $nsB" grep -q "^rank 1: host hostB, netns $nsB " "$work/ns.log"
check "$epochs epoch lines" test "$(epochs_of "$work/ns.log" | wc -l)" -eq "$epochs"
check "epoch lines identical (timings left out)" diff <(epochs_of "$work/ns.log") <(epochs_of "$work/ref.log")
check "parameters byte-identical" cmp "$work/ns/lenet.safetensors" "$work/ref/lenet.safetensors"
check "trainer states byte-identical" cmp "$work/ns/lenet.trainer.safetensors" "$work/ref/lenet.trainer.safetensors"
check "veth A->B $tx bytes >= $least ($steps steps x gradients of $param_bytes bytes)" test "$tx" -ge "$least"
check "veth B->A $rx bytes >= $least" test "$rx" -ge "$least"
echo "time: two namespaces ${t_ns} s, reference ${t_ref} s"
((fail == 0)) || exit 1
echo "PASS"
