#!/bin/bash
# The first process of a simulated node, started by the fleet as
#   unshare --mount --uts --pid --fork --kill-child --propagation private bash node-root.sh HOME NAME STAND_INS
# as root, in the node's own mount, UTS and PID namespaces (nothing it mounts is seen by the host).
#
# It builds the node's file system: a copy-on-write overlay over the host's root, whose changes stay in
# HOME/rootfs/upper (kept across reboots of the node); its own /proc, /tmp, /run and /dev/shm; the host's
# /dev and a read-only /sys; the node's folder HOME at the same path as on the host (the folder the
# commands start in); the stand-ins read-only at /usr/local/lib/fuel-sls/stand-ins, and a stand-in in
# /usr/bin for an interpreter the host does not have; on a node (not the master) the master's files at
# /run/fuel-master, read-only (copy_files reads them there). It names the node NAME, prints
# "ready <its pid on the host>" and then, chrooted into that file system as the node's init, reaps
# orphans until its standard input closes (the fleet stops the node, or went away). Commands join it with
# `nsenter --target <pid> --mount --uts --pid --root --wd`.
set -euo pipefail

home=$1
name=$2
stand_ins=$3
root=$home/rootfs
merged=$root/merged
stand_ins_at=/usr/local/lib/fuel-sls/stand-ins

mkdir -p "$root/upper" "$root/work" "$merged"
mount -t overlay overlay -o "lowerdir=/,upperdir=$root/upper,workdir=$root/work" "$merged"
mount -t proc -o nosuid,nodev,noexec proc "$merged/proc"
mount --rbind /dev "$merged/dev"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$merged/dev/shm"
mount --bind /sys "$merged/sys"
mount -o remount,bind,ro "$merged/sys"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$merged/tmp"
mount -t tmpfs -o nosuid,nodev,mode=755 tmpfs "$merged/run"
mkdir -p "$merged/run/lock"

mkdir -p "$merged$home"
mount --bind "$home" "$merged$home"
# the node does not see its own overlay layers
mount -t tmpfs -o ro,size=4k,mode=755 tmpfs "$merged$root"

mkdir -p "$merged$stand_ins_at"
mount --bind "$stand_ins" "$merged$stand_ins_at"
mount -o remount,bind,ro "$merged$stand_ins_at"
# the master's files, as copy_files reads them: what the master's tasks wrote (its overlay's changes), read-only
master_files=$(dirname "$home")/master/rootfs/upper
if [ "$name" != master ]; then
  mkdir -p "$master_files" "$merged/run/fuel-master"
  mount --bind "$master_files" "$merged/run/fuel-master"
  mount -o remount,bind,ro "$merged/run/fuel-master"
fi

for interpreter in python python2 python3 ruby; do
  if [ ! -e "$merged/usr/bin/$interpreter" ] && [ ! -L "$merged/usr/bin/$interpreter" ]; then
    ln -s "$stand_ins_at/bin/$interpreter" "$merged/usr/bin/$interpreter"
  fi
done

hostname "$name"
printf '%s\n' "$name" >"$merged/etc/hostname"

# /proc is still the host's here: the first field of our stat is our pid on the host
read -r host_pid _ </proc/self/stat
cd "$merged"
exec chroot . /bin/bash -c 'echo "ready $0"; while read -r _; do :; done' "$host_pid"
