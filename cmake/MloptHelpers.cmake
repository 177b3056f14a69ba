# Small helpers shared by every folder's CMakeLists.

# Warnings per target, never global flags.
function(mlopt_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)
  # GCC 12 warns falsely about std::string concatenation at -O2 (GCC bug
  # 105329: "accessing 9223372036854775810 or more bytes"); 13 fixed it.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wno-restrict -Wno-stringop-overflow -Wno-array-bounds>)
  endif()
endfunction()

# True when the libtorch found links its CUDA libraries (the PyTorch wheel's
# libtorch on the GPU machine); false for Debian's CPU-only libtorch-dev.
function(mlopt_torch_has_cuda out)
  set(_has OFF)
  foreach(lib IN LISTS TORCH_LIBRARIES)
    if(lib MATCHES "c10_cuda|torch_cuda")
      set(_has ON)
    endif()
  endforeach()
  if(TARGET c10_cuda OR TARGET torch_cuda)
    set(_has ON)
  endif()
  set(${out} ${_has} PARENT_SCOPE)
endfunction()

# GoogleTest: the installed package, or the sources at /usr/src/googletest
# (the GPU machine ships only those).
macro(mlopt_find_gtest)
  find_package(GTest QUIET)
  if(NOT GTest_FOUND)
    if(EXISTS /usr/src/googletest/CMakeLists.txt)
      set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
      set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
      add_subdirectory(/usr/src/googletest ${CMAKE_BINARY_DIR}/_googletest EXCLUDE_FROM_ALL)
      add_library(GTest::gtest ALIAS gtest)
      add_library(GTest::gtest_main ALIAS gtest_main)
    else()
      message(FATAL_ERROR "GoogleTest not found: install libgtest-dev (scripts/setup.sh does) or pass -DMLOPT_BUILD_TESTS=OFF")
    endif()
  endif()
  include(GoogleTest)
endmacro()

# mlopt_add_test(NAME SOURCES... LIBS ... [LABELS ...]): one GoogleTest binary.
# Tests labelled "gpu" are the ones `ctest -L gpu` runs on the GPU machine;
# they skip themselves where no CUDA device is present.
function(mlopt_add_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  mlopt_warnings(${name})
  set(_labels ${T_LABELS})
  if(NOT _labels)
    set(_labels cpu)
  endif()
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${_labels}"
               # ctest runs one test per core (-j 2 on 2 cores): BLAS and OpenMP
               # thread pools in every process would oversubscribe the cores,
               # and the CPU profiler tests compare wall-clock times.
               ENVIRONMENT "MLOPT_CLI=$<TARGET_FILE:mlopt>;OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1"
    DISCOVERY_TIMEOUT 120)
endfunction()

# A header-only dependency: its installed CMake package if there is one, else
# the headers under .deps/include (scripts/vendor_deps.sh copies them there
# for the GPU machine, which has no network and no such packages).
macro(mlopt_header_only_dependency package target header)
  find_package(${package} QUIET)
  if(NOT TARGET ${target})
    find_path(_mlopt_${package}_include ${header} PATHS ${PROJECT_SOURCE_DIR}/.deps/include NO_DEFAULT_PATH)
    if(NOT _mlopt_${package}_include)
      message(FATAL_ERROR "${package} not found: install it (scripts/setup.sh does) or run scripts/vendor_deps.sh")
    endif()
    add_library(${target} INTERFACE IMPORTED)
    target_include_directories(${target} INTERFACE ${_mlopt_${package}_include})
    message(STATUS "mlopt: ${package} from ${_mlopt_${package}_include}")
  endif()
endmacro()
