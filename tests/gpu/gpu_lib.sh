# Shared by the GPU script tests: skips (exit 77) unless this distkan can run on a GPU.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# `distkan device` says where a run would go; anything but a CUDA device means skip.
if ! "$DISTKAN" device 2>/dev/null | grep -q '^cuda'; then
    echo "no CUDA device visible (distkan device: $("$DISTKAN" device 2>&1)): skipped"
    exit 77
fi
