#!/usr/bin/env bash
# Source it on the GPU machine: `source scripts/gpu/unpack.sh` (or `source .gpudeps/unpack.sh`),
# with .gpudeps/ carried (`carry: [".gpudeps"]`; scripts/gpu/fetch-debs.sh fills it on the CPU
# machine). Unpacks the Debian packages there into $DKDEPS_ROOT (default /opt/dkdeps) once,
# makes what dpkg -x leaves out (the update-alternatives symlinks of BLAS/LAPACK/OpenBLAS and
# MPI, mpicc/mpirun), makes the pkg-config files point into the root, and exports what
# CMake, pkg-config, mpicc, mpirun and the built binaries need:
#   PATH (the root's bin first: pkg-config, mpicc, mpirun, protoc-c), LD_LIBRARY_PATH (the
#   root's libraries; the wheel's NCCL; the CUDA toolkit's lib dir, appended), PKG_CONFIG_PATH,
#   CMAKE_PREFIX_PATH, OPAL_PREFIX, OPAL_SYSCONFDIR, PMIX_PKGLIBDIR, PMIX_PKGDATADIR,
#   NCCL_ROOT (=$DKDEPS_ROOT/nccl, links into Python's nvidia-nccl package, when that is
#   there and NCCL_ROOT is unset), OMPI_ALLOW_RUN_AS_ROOT*, OMPI_MCA_rmaps_base_oversubscribe,
#   OMPI_MCA_plm=isolated (only when neither ssh nor rsh is installed),
#   OMPI_MCA_btl_vader_single_copy_mechanism=none; nvcc's directory appended to PATH when
#   nvcc is not on it.
# Works as well on the CPU machine with DKDEPS_ROOT=/tmp/somewhere, which is how it is tested:
#   DKDEPS_ROOT=/tmp/dkroot bash -c 'source scripts/gpu/unpack.sh && pkg-config --libs lapacke'
# Sourced: it never exits the caller's shell; it returns 1 when the packages are missing.
# Fixed against ../shared/gpu/unpack.sh: LAPACKE/OpenBLAS and their alternatives symlinks,
# pkg-config files rewritten to the root (they name /usr/... literally) and PKG_CONFIG_PATH,
# lapacke.h's directory in lapacke.pc, nvidia.nccl found also as a namespace package, the
# root overridable, a stamp file instead of "usr exists" (a half-finished unpack is redone).
# Fixed in a bare Debian 12 chroot (nothing but gcc, cmake, ninja, python3 and a CUDA
# toolkit; see fetch-debs.sh), where the CPU machine's system packages no longer hid:
#   - libnl-3.so.200 (unpacked into lib/, not usr/lib/) linked into usr/lib/x86_64-linux-gnu;
#   - mpirun stopped ("plm_rsh_agent: ssh : rsh ... could not be found") with no ssh: the
#     isolated launcher then;
#   - PMIx's plugins and help files (absolute /usr/lib/x86_64-linux-gnu/pmix2 paths) and
#     Open MPI's openmpi-mca-params.conf (/etc/openmpi) were not found in the root;
#   - distkan failed to start (libcudart.so.13 not found) where ld.so.conf does not name
#     the toolkit: CMake writes no RUNPATH for nvcc's own library directory;
#   - NCCL_ROOT pointing at the wheel gave the wheel's nccl.h with a toolkit's libnccl.so;
#   - OMPI_MCA_btl=^openib dropped: it overrode the params file's btl = ^uct,openib,ofi;
#   - the stamp holds the .deb list and this script's checksum: a change unpacks afresh.
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
  # The stamp names the .deb files unpacked and this script's checksum: another set or
  # another unpack.sh (fetch-debs.sh rerun, a warm machine reused) unpacks afresh.
  local want
  want=$(cksum < "${BASH_SOURCE[0]}"; cd "$debs" && ls *.deb fallback/*.deb 2>/dev/null)
  if [ ! -f "$R/.dkdeps-unpacked" ] || [ "$(cat "$R/.dkdeps-unpacked")" != "$want" ]; then
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
    # Packages that install into /lib (libnl-3-200: Open MPI's reachable_netlink plugin and
    # libfabric need libnl-3.so.200) reach the root's lib/; usrmerge's /lib -> usr/lib.
    for f in "$R"/lib/x86_64-linux-gnu/*; do [ -e "$f" ] && ln -sf "$f" "$L/${f##*/}"; done
    # Base libraries the image should have; linked in only where it has not.
    if ls "$debs"/fallback/*.deb >/dev/null 2>&1; then
      mkdir -p "$R/fallback"
      for f in "$debs"/fallback/*.deb; do dpkg -x "$f" "$R/fallback"; done
      # The list is read whole before grep looks at it: sourced under `set -o pipefail` (as
      # gpu_check.sh does), `ldconfig -p | awk | grep -q` failed whenever grep's early exit
      # killed awk with SIGPIPE, and a library the system has (libz.so.1) read as missing.
      local lib name system_libs
      system_libs=$({ /sbin/ldconfig -p 2>/dev/null || ldconfig -p 2>/dev/null; } | awk '{print $1}')
      for lib in $(find "$R/fallback" -name 'lib*.so.[0-9]' \( -type f -o -type l \)); do
        name=${lib##*/}
        if ! grep -qxF "$name" <<< "$system_libs"; then
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
    printf '%s\n' "$want" > "$R/.dkdeps-unpacked"
  fi
  export OPAL_PREFIX=$R/usr
  # Open MPI's sysconfdir is /etc/openmpi literally (OPAL_PREFIX does not move it): without
  # this Debian's openmpi-mca-params.conf (pml ^ucx, mtl ^ofi, btl ^uct,openib,ofi, ...)
  # is not read and Open MPI picks other transports than on the CPU machine.
  export OPAL_SYSCONFDIR=$R/etc/openmpi
  # PMIx (Debian's, in /usr/lib/x86_64-linux-gnu/pmix2, absolute paths that PMIX_PREFIX does
  # not move) finds its plugins and help files through these; without them every mpirun
  # prints "Sorry! ... help-pcompress.txt: No such file" (no zlib plugin loaded).
  export PMIX_PKGLIBDIR=$L/pmix2/lib/pmix PMIX_PKGDATADIR=$L/pmix2/share/pmix
  export PATH=$R/usr/bin:$PATH
  export LD_LIBRARY_PATH=$L:$L/openmpi/lib:$L/$ob${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export PKG_CONFIG_PATH=$L/pkgconfig:$R/usr/share/pkgconfig:$L/openmpi/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  export CMAKE_PREFIX_PATH=$R/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  # Two ranks on one machine with more ranks than cores in the tests. (No OMPI_MCA_btl: it
  # would override the params file's btl = ^uct,openib,ofi.)
  export OMPI_MCA_rmaps_base_oversubscribe=1
  # Shared-memory messages by copy-in/copy-out: the single-copy mechanism (cross-memory
  # attach, process_vm_readv) fails in sandboxed VMs ("Read -1, expected ...").
  export OMPI_MCA_btl_vader_single_copy_mechanism=none
  # mpirun's rsh launcher refuses to start, even for ranks on this machine only, when
  # neither ssh nor rsh is installed ("plm_rsh_agent: ssh : rsh ... could not be found"):
  # the isolated launcher starts local ranks only and needs neither.
  if [ -z "${OMPI_MCA_plm:-}${OMPI_MCA_plm_rsh_agent:-}" ] && ! command -v ssh >/dev/null 2>&1 \
     && ! command -v rsh >/dev/null 2>&1; then
    export OMPI_MCA_plm=isolated
  fi
  # NCCL: the GPU image ships it inside Python's nvidia-nccl package (a namespace package:
  # no __file__, hence __path__; the wheel holds nvidia/nccl/include/nccl.h and
  # nvidia/nccl/lib/libnccl.so.2, no libnccl.so). NCCL_ROOT is $R/nccl, links to the wheel
  # plus a libnccl.so: CMake's find_library(NAMES nccl libnccl.so.2) tries "nccl" in every
  # directory first, so with the wheel itself as NCCL_ROOT it took a toolkit's libnccl.so
  # beside the wheel's nccl.h. No wheel: CMake looks in the CUDA toolkit.
  if [ -z "${NCCL_ROOT:-}" ]; then
    local nd py inc=
    for py in python3 /opt/torch/.venv/bin/python3; do
      nd=$("$py" -c 'import nvidia.nccl as m; print(list(m.__path__)[0])' 2>/dev/null) && [ -n "$nd" ] && break
    done
    if [ -n "$nd" ] && ls "$nd"/lib/libnccl.so* >/dev/null 2>&1; then
      rm -rf "$R/nccl" && mkdir -p "$R/nccl/lib"
      if [ -f "$nd/include/nccl.h" ]; then
        ln -sfn "$nd/include" "$R/nccl/include"
      elif [ -f "$debs/nccl/include/nccl.h" ]; then
        # The wheel without its header: the carried nccl.h beside the wheel's library.
        mkdir -p "$R/nccl/include" && cp -f "$debs/nccl/include/nccl.h" "$R/nccl/include/"
        echo "dkdeps: $nd has no nccl.h; using the carried one ($(grep -m1 '#define NCCL_VERSION_CODE' "$R/nccl/include/nccl.h"))"
      fi
      if [ -e "$R/nccl/include/nccl.h" ]; then
        for f in "$nd"/lib/libnccl.so*; do ln -sf "$f" "$R/nccl/lib/${f##*/}"; done
        [ -e "$R/nccl/lib/libnccl.so" ] || ln -sf libnccl.so.2 "$R/nccl/lib/libnccl.so"
        export NCCL_ROOT=$R/nccl
        export LD_LIBRARY_PATH=$nd/lib:$LD_LIBRARY_PATH
      fi
    fi
  fi
  # The CUDA toolkit's runtime (libcudart.so.13, and NCCL where the toolkit has it): CMake
  # puts no RUNPATH for it in the binaries (an implicit link directory of nvcc), so
  # distkan finds it only through ld.so.conf, which need not name the toolkit. Appended:
  # the wheel's NCCL above stays first.
  local nvcc tk d
  nvcc=$(command -v nvcc || echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc")
  # CMake's check_language(CUDA) needs nvcc on PATH (or CUDACXX).
  command -v nvcc >/dev/null 2>&1 || { [ -x "$nvcc" ] && export PATH=$PATH:$(dirname "$nvcc"); }
  if [ -x "$nvcc" ]; then
    tk=$(cd "$(dirname "$(readlink -f "$nvcc")")/.." && pwd)
    for d in "$tk/lib64" "$tk/lib" "$tk/targets/x86_64-linux/lib"; do
      [ -d "$d" ] && d=$(readlink -f "$d") || continue
      if { compgen -G "$d/libcudart.so*" || compgen -G "$d/libnccl.so*"; } >/dev/null \
         && [[ ":$LD_LIBRARY_PATH:" != *":$d:"* ]]; then
        export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$d
      fi
    done
  fi
  echo "dkdeps: root=$R mpirun=$(command -v mpirun) protoc-c=$(command -v protoc-c) NCCL_ROOT=${NCCL_ROOT:-not set (CMake looks in the CUDA toolkit)}"
}
dk_unpack_main
dk_unpack_rc=$?
unset -f dk_unpack_main
[ "$dk_unpack_rc" = 0 ]
