#!/usr/bin/env bash
# Source it on the GPU machine: `source scripts/gpu/unpack.sh` (or `source .gpudeps/unpack.sh`),
# with .gpudeps/ carried (`carry: [".gpudeps"]`; scripts/gpu/fetch-debs.sh fills it on the CPU
# machine). Unpacks the Debian packages there into $DKDEPS_ROOT (default /opt/dkdeps) once,
# makes what dpkg -x leaves out (the update-alternatives symlinks of BLAS/LAPACK/OpenBLAS and
# MPI, mpicc/mpirun), makes the pkg-config files point into the root, and exports what
# CMake, pkg-config, mpicc and mpirun need:
#   PATH, LD_LIBRARY_PATH, PKG_CONFIG_PATH, CMAKE_PREFIX_PATH, OPAL_PREFIX, NCCL_ROOT (when
#   Python's nvidia-nccl package is there and NCCL_ROOT is unset), OMPI_ALLOW_RUN_AS_ROOT*.
# Works as well on the CPU machine with DKDEPS_ROOT=/tmp/somewhere, which is how it is tested:
#   DKDEPS_ROOT=/tmp/dkroot bash -c 'source scripts/gpu/unpack.sh && pkg-config --libs lapacke'
# Sourced: it never exits the caller's shell; it returns 1 when the packages are missing.
# Fixed against ../shared/gpu/unpack.sh: LAPACKE/OpenBLAS and their alternatives symlinks,
# pkg-config files rewritten to the root (they name /usr/... literally) and PKG_CONFIG_PATH,
# lapacke.h's directory in lapacke.pc, nvidia.nccl found also as a namespace package, the
# root overridable, a stamp file instead of "usr exists" (a half-finished unpack is redone).
dk_unpack_main() {
  local here debs R L f ob=openblas-pthread
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  if [ -n "${DKDEPS_DEBS:-}" ]; then debs=$DKDEPS_DEBS
  elif ls "$here"/*.deb >/dev/null 2>&1; then debs=$here
  else debs=$(cd "$here/../.." && pwd)/.gpudeps
  fi
  R=${DKDEPS_ROOT:-/opt/dkdeps}
  L=$R/usr/lib/x86_64-linux-gnu
  if ! ls "$debs"/*.deb >/dev/null 2>&1; then
    echo "dkdeps: no .deb files in $debs (run scripts/gpu/fetch-debs.sh on the CPU machine and carry .gpudeps)" >&2
    return 1
  fi
  if [ ! -f "$R/.dkdeps-unpacked" ]; then
    rm -rf "$R" && mkdir -p "$R" || return 1
    for f in "$debs"/*.deb; do dpkg -x "$f" "$R" || { echo "dkdeps: dpkg -x $f failed" >&2; return 1; }; done
    # What update-alternatives would have made (Debian's choices, OpenBLAS pthread first).
    ln -sf $ob/libblas.so.3 "$L/libblas.so.3"
    ln -sf $ob/liblapack.so.3 "$L/liblapack.so.3"
    ln -sf $ob/libblas.so "$L/libblas.so"
    ln -sf $ob/liblapack.so "$L/liblapack.so"
    ln -sf $ob/libopenblas.so.0 "$L/libopenblas.so.0"
    ln -sf $ob/libopenblas.so "$L/libopenblas.so"
    mkdir -p "$L/pkgconfig" "$R/usr/include/x86_64-linux-gnu"
    ln -sf ../$ob/pkgconfig/openblas.pc "$L/pkgconfig/openblas.pc"
    ln -sf ../$ob/pkgconfig/blas-openblas.pc "$L/pkgconfig/blas.pc"
    ln -sf ../$ob/pkgconfig/lapack-openblas.pc "$L/pkgconfig/lapack.pc"
    ln -sf $ob/cblas.h "$R/usr/include/x86_64-linux-gnu/cblas.h"
    ln -sf ../openmpi/lib/pkgconfig/ompi-c.pc "$L/pkgconfig/mpi-c.pc"
    ln -sf ../openmpi/lib/pkgconfig/ompi.pc "$L/pkgconfig/mpi.pc"
    ln -sfn ../../lib/x86_64-linux-gnu/openmpi/include "$R/usr/include/x86_64-linux-gnu/mpi"
    ln -sf orterun "$R/usr/bin/mpirun"
    ln -sf orterun "$R/usr/bin/mpiexec"
    ln -sf mpicc.openmpi "$R/usr/bin/mpicc"
    ln -sf ../libpsm1/libpsm_infinipath.so.1.16 "$L/libpsm_infinipath.so.1"
    # Base libraries the image should have; linked in only where it has not.
    if ls "$debs"/fallback/*.deb >/dev/null 2>&1; then
      mkdir -p "$R/fallback"
      for f in "$debs"/fallback/*.deb; do dpkg -x "$f" "$R/fallback"; done
      local lib name
      for lib in $(find "$R/fallback" -name 'lib*.so.[0-9]' \( -type f -o -type l \)); do
        name=${lib##*/}
        if ! { /sbin/ldconfig -p 2>/dev/null || ldconfig -p 2>/dev/null; } | awk '{print $1}' | grep -qxF "$name"; then
          ln -sf "$lib" "$L/$name" && echo "dkdeps: the system lacks $name; using Debian's"
        fi
      done
    fi
    # pkg-config files name /usr/... literally; point them into the root. lapacke.pc's
    # includedir is the multiarch one, but lapacke.h sits in usr/include (found on a normal
    # system only because /usr/include is the compiler's default).
    find "$R" -name '*.pc' -type f -exec sed -i \
      -e "s#=/usr\\([/ ]\\|\$\\)#=$R/usr\\1#g" -e "s#-I/usr/#-I$R/usr/#g" -e "s#-L/usr/#-L$R/usr/#g" {} +
    sed -i "s#^Cflags: .*#& -I$R/usr/include#" "$L/pkgconfig/lapacke.pc"
    touch "$R/.dkdeps-unpacked"
  fi
  export OPAL_PREFIX=$R/usr
  export PATH=$R/usr/bin:$PATH
  export LD_LIBRARY_PATH=$L:$L/openmpi/lib:$L/$ob${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export PKG_CONFIG_PATH=$L/pkgconfig:$R/usr/share/pkgconfig:$L/openmpi/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  export CMAKE_PREFIX_PATH=$R/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  # Two ranks on one machine with more ranks than cores in the tests; no InfiniBand there.
  export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=^openib
  # NCCL: the GPU image ships it inside Python's nvidia-nccl package (a namespace package:
  # no __file__, hence __path__). A toolkit's own NCCL (nccl.h beside nvcc) also works.
  if [ -z "${NCCL_ROOT:-}" ]; then
    local nd
    nd=$(python3 -c 'import nvidia.nccl as m; print(list(m.__path__)[0])' 2>/dev/null || true)
    if [ -n "$nd" ] && [ -f "$nd/include/nccl.h" ]; then
      export NCCL_ROOT=$nd
      export LD_LIBRARY_PATH=$nd/lib:$LD_LIBRARY_PATH
    elif [ -n "$nd" ] && ls "$nd"/lib/libnccl.so* >/dev/null 2>&1 && [ -f "$debs/nccl/include/nccl.h" ]; then
      # The wheel without its header: the carried nccl.h beside the wheel's library.
      mkdir -p "$R/nccl/include" && cp -f "$debs/nccl/include/nccl.h" "$R/nccl/include/"
      ln -sfn "$nd/lib" "$R/nccl/lib"
      export NCCL_ROOT=$R/nccl
      export LD_LIBRARY_PATH=$nd/lib:$LD_LIBRARY_PATH
      echo "dkdeps: $nd has no nccl.h; using the carried one ($(grep -m1 '#define NCCL_VERSION_CODE' "$R/nccl/include/nccl.h"))"
    fi
  fi
  echo "dkdeps: root=$R mpirun=$(command -v mpirun) protoc-c=$(command -v protoc-c) NCCL_ROOT=${NCCL_ROOT:-not set (CMake looks in the CUDA toolkit)}"
}
dk_unpack_main
dk_unpack_rc=$?
unset -f dk_unpack_main
[ "$dk_unpack_rc" = 0 ]
