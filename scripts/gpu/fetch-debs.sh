#!/usr/bin/env bash
# Run on the CPU machine (Debian 12), from anywhere: downloads the Debian packages that a
# distkan build needs and the GPU machine lacks into <repo>/.gpudeps/ (ignored by git), and
# copies unpack.sh beside them, ready to travel with the device tool's `carry: [".gpudeps"]`.
# On the GPU machine `source .gpudeps/unpack.sh` (or scripts/gpu/unpack.sh) unpacks them.
#
# Fixed against ../shared/gpu/fetch-debs.sh:
#   - LAPACKE and OpenBLAS (CMakeLists.txt requires lapacke.pc; bench/ requires openblas.pc)
#     with their runtime libraries: liblapacke + libtmglib3, OpenBLAS's pthread variant
#     (which provides libblas.so.3 / liblapack.so.3 through alternatives), the reference
#     libblas3 / liblapack3 as a fallback, libgfortran5 and libquadmath0;
#   - ibverbs-providers (libefa.so.1, libmlx5.so.1: libfabric and UCX's IB transport link
#     them, and Open MPI prints load errors for its plugins without them);
#   - fallback/: libudev (hwloc, hence mpirun), libuuid, libatomic, zlib, linked only where
#     the GPU image lacks its own (checked: every NEEDED library of every unpacked binary
#     is then in the root, in fallback/, or one of libc/libm/libstdc++/libgcc_s);
#   - libinireader0 (libinih-dev's C++ dependency) and libhwloc-plugins are not needed;
#   - pkgconf, pkgconf-bin, libpkgconf3 (CMakeLists.txt's find_package(PkgConfig REQUIRED):
#     an image without pkg-config stops at configure; found in a bare Debian chroot);
#   - no failure where .git/info is missing (git worktrees, fresh clones): .gitignore
#     already ignores /.gpudeps/, the exclude entry is only added when git does not.
#
# Tested on a bare system: a minbase Debian 12 chroot with only gcc, g++, make, python3,
# cmake, ninja-build and a read-only CUDA 13.0 toolkit (2026-11-23): unpack, configure with
# DISTKAN_CUDA=ON, build, the unit tests, an mpirun test and a 2-rank training run pass,
# the gpu tests skip (no GPU there).
# Versions downloaded (Debian 12 bookworm, 2026-11-23; 30 MB; .gpudeps/MANIFEST lists the files):
#   openmpi-bin libopenmpi3 libopenmpi-dev 4.1.4-3+b1, openmpi-common 4.1.4-3,
#   libpmix2 4.2.2-1+deb12u1, libhwloc15 2.9.0-1, libevent-core-2.1-7 libevent-pthreads-2.1-7
#   2.1.12-stable-8+deb12u1, libfabric1 1.17.0-3, libucx0 1.13.1-1, libibverbs1 librdmacm1
#   ibverbs-providers 44.0-2, libpsm2-2 11.2.185-2, libpsm-infinipath1 3.3+20.604758e7-6.2,
#   libnl-3-200 libnl-route-3-200 3.7.0-0.2+b1, libnuma1 2.0.16-1, libmunge2 0.5.15-2+deb12u1;
#   libprotobuf-c1 libprotobuf-c-dev protobuf-c-compiler 1.4.1-1+b1, libprotobuf32 libprotoc32
#   3.21.12-3+deb12u1; libcmocka0 libcmocka-dev 1.1.5-2.1; libinih1 libinih-dev 55-1;
#   liblapacke liblapacke-dev libtmglib3 libtmglib-dev liblapack3 liblapack-dev libblas3
#   libblas-dev 3.11.0-2; libopenblas0 libopenblas0-pthread libopenblas-dev
#   libopenblas-pthread-dev 0.3.21+ds-4; libgfortran5 libquadmath0 12.2.0-14+deb12u1;
#   pkgconf pkgconf-bin libpkgconf3 1.8.1-1;
#   fallback/: libudev1 252.39-1~deb12u2, libuuid1 2.38.1-5+deb12u3, libatomic1
#   12.2.0-14+deb12u1, zlib1g 1:1.2.13.dfsg-1.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
dest=${DKDEPS_DEBS:-$root/.gpudeps}
pkgs="openmpi-bin openmpi-common libopenmpi3 libopenmpi-dev libpmix2 libhwloc15
 libevent-core-2.1-7 libevent-pthreads-2.1-7 libfabric1 libucx0 libibverbs1 librdmacm1
 libpsm2-2 libpsm-infinipath1 libnl-3-200 libnl-route-3-200 libnuma1 libmunge2
 libprotobuf-c1 libprotobuf-c-dev protobuf-c-compiler libprotoc32 libprotobuf32
 libcmocka0 libcmocka-dev libinih1 libinih-dev
 liblapacke liblapacke-dev libtmglib3 libtmglib-dev liblapack3 liblapack-dev libblas3 libblas-dev
 libopenblas0 libopenblas0-pthread libopenblas-dev libopenblas-pthread-dev
 libgfortran5 libquadmath0 ibverbs-providers
 pkgconf pkgconf-bin libpkgconf3"
# Libraries every Ubuntu/Debian image normally has; unpack.sh uses them only where the
# GPU machine's own are missing (ldconfig -p), never in front of them.
fallback="libudev1 libuuid1 libatomic1 zlib1g"
mkdir -p "$dest"
if [ "$dest" = "$root/.gpudeps" ] && ! (cd "$root" && git check-ignore -q .gpudeps/x 2>/dev/null); then
  exclude=$(cd "$root" && git rev-parse --git-path info/exclude)
  mkdir -p "$(dirname "$root/$exclude")" 2>/dev/null || true
  echo '/.gpudeps/' >> "$root/$exclude"
fi
cp "$here/unpack.sh" "$dest/"
[ -n "$(ls /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial | head -1)" ] || apt-get update -q
# A package already downloaded (same version) is not fetched again.
(cd "$dest" && apt-get download $pkgs)
mkdir -p "$dest/fallback"
(cd "$dest/fallback" && apt-get download $fallback)
# Older versions of a package left from earlier runs would be unpacked over the new ones.
for d in "$dest" "$dest/fallback"; do
  (cd "$d" && ls *.deb | sed 's/_.*//' | sort | uniq -d | while read -r p; do
     ls -t "${p}"_*.deb | tail -n +2 | xargs -r rm -f; done)
done
(cd "$dest" && ls *.deb fallback/*.deb) > "$dest/MANIFEST"
# nccl.h, for a GPU image whose NCCL (Python's nvidia-nccl wheel) ships the library without
# its header; unpack.sh uses it only then. The CUDA 13 toolkit's copy here is NCCL 2.28.
for h in "${CUDA_HOME:-/usr/local/cuda}/include/nccl.h" /usr/include/nccl.h /usr/local/include/nccl.h; do
  if [ -f "$h" ]; then mkdir -p "$dest/nccl/include" && cp "$h" "$dest/nccl/include/"; break; fi
done
du -sh "$dest"
