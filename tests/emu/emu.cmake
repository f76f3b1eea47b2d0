# The CUDA emulator build (-DDISTKAN_CUDA_EMULATOR=ON; scripts/test.sh runs it with the
# sanitizers): the GPU backend's host code and kernels compiled for the CPU against
# tests/emu's CUDA runtime, so that the GPU tests run here without a GPU. NCCL is the real
# library, linked but never initialised (the emulated device has no NCCL; see
# dk_device_comm). Included by the top-level CMakeLists.txt; sets
#   DK_HAVE_CUDA, DK_CUDA_EMULATED   ON
#   DK_EMU_SOURCES                   the translated kernels and the emulator's runtime
#   DK_EMU_INCLUDE                   its cuda_runtime.h, cuda_runtime_api.h
#   NCCL_INCLUDE_DIR, NCCL_LIBRARY
enable_language(CXX)
find_package(Threads REQUIRED)
set(DK_EMU_DIR ${CMAKE_CURRENT_LIST_DIR})
set(DK_EMU_INCLUDE ${DK_EMU_DIR}/include)

set(DK_NCCL_HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} /usr/local/cuda)
find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${DK_NCCL_HINTS} PATH_SUFFIXES include)
find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 NAMES_PER_DIR HINTS ${DK_NCCL_HINTS} PATH_SUFFIXES lib lib64)
if(NOT NCCL_INCLUDE_DIR OR NOT NCCL_LIBRARY)
  message(FATAL_ERROR "DISTKAN_CUDA_EMULATOR=ON needs NCCL's header and library (set NCCL_ROOT)")
endif()

# dk_emu_translate(<source> <output>): the rule that rewrites one .cu or .cuh file with
# cu_to_cpp.sed; the output compiles with the source's own directory on its include path,
# so that the headers it includes from the source tree are found.
function(dk_emu_translate src out)
  get_filename_component(out_dir ${out} DIRECTORY)
  get_filename_component(src_dir ${src} DIRECTORY)
  file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${src})
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND sh -c "sed -E -f '${DK_EMU_DIR}/cu_to_cpp.sed' '${src}' > '${out}'"
    DEPENDS ${src} ${DK_EMU_DIR}/cu_to_cpp.sed
    COMMENT "CUDA emulator: translating ${rel}"
    VERBATIM)
  set_source_files_properties(${out} PROPERTIES GENERATED TRUE INCLUDE_DIRECTORIES ${src_dir})
endfunction()

# Every .cu and .cuh, translated into the same relative place under emu_src/ (.cu becoming
# .cpp), so that their includes of each other still resolve.
file(GLOB_RECURSE DK_EMU_CUDA_FILES CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}
  ${PROJECT_SOURCE_DIR}/common/*.cu ${PROJECT_SOURCE_DIR}/common/*.cuh
  ${PROJECT_SOURCE_DIR}/kernels/*.cu ${PROJECT_SOURCE_DIR}/kernels/*.cuh
  ${PROJECT_SOURCE_DIR}/layers/*.cu ${PROJECT_SOURCE_DIR}/layers/*.cuh
  ${PROJECT_SOURCE_DIR}/optim/*.cu ${PROJECT_SOURCE_DIR}/optim/*.cuh
  ${PROJECT_SOURCE_DIR}/tasks/*.cu ${PROJECT_SOURCE_DIR}/tasks/*.cuh
  ${PROJECT_SOURCE_DIR}/dist/*.cu ${PROJECT_SOURCE_DIR}/dist/*.cuh)
set(DK_EMU_SOURCES ${DK_EMU_DIR}/cuda_emu_device.cpp ${DK_EMU_DIR}/cuda_emu_exec.cpp
  ${DK_EMU_DIR}/cuda_emu_memory.cpp ${DK_EMU_DIR}/cuda_emu_streams.cpp)
foreach(rel ${DK_EMU_CUDA_FILES})
  string(REGEX REPLACE "\\.cu$" ".cpp" out_rel ${rel})
  set(out ${CMAKE_BINARY_DIR}/emu_src/${out_rel})
  dk_emu_translate(${PROJECT_SOURCE_DIR}/${rel} ${out})
  list(APPEND DK_EMU_SOURCES ${out})
endforeach()

set(DK_HAVE_CUDA ON)
set(DK_CUDA_EMULATED ON)
message(STATUS "distkan: CUDA backend on the CUDA EMULATOR (tests/emu; a test build, kernels run on the CPU; NCCL ${NCCL_LIBRARY})")
