# CUDA source to C++ for the CUDA emulator (tests/emu): the two constructs C++ cannot spell.
# Everything else in the .cu and .cuh files compiles as it is against the emulator's
# cuda_runtime.h. One construct per line, as distkan's sources write them.
#
# kernel<<<grid, block, shared, stream>>>(args)
#   -> dk_emu::launcher(dk_emu::config(grid, block, shared, stream), [=](auto... a) { kernel(a...); })(args)
# (a generic lambda, so that a kernel template is deduced from the arguments, as nvcc does)
s/([A-Za-z_][A-Za-z0-9_:]*(<[^;]*>)?)<<<(.*)>>>\(/dk_emu::launcher(dk_emu::config(\3), [=](auto... dk_emu_arg) { \1(dk_emu_arg...); })(/
# extern __shared__ [__align__(n)] T name[];  ->  T *name = (T *)dk_emu::dynamic_shared();
s/extern[ ]+__shared__[ ]+(__align__\([0-9]+\)[ ]+)?([^;[]*[^ ;[])[ ]+([A-Za-z_][A-Za-z0-9_]*)\[\];/\2 *\3 = (\2 *)dk_emu::dynamic_shared();/
# __shared__ [__align__(n)] T name[dims];  ->  DK_EMU_SHARED(T, name, [dims]);
s/__shared__[ ]+(__align__\([0-9]+\)[ ]+)?([^;[]*[^ ;[])[ ]+([A-Za-z_][A-Za-z0-9_]*)(\[[^;]*\]);/DK_EMU_SHARED(\2, \3, \4);/
