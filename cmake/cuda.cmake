# ggml's CUDA backend inside libbloom.so (-DBLOOM_CUDA=ON), included by cmake/ggml.cmake before ggml is added.
#
# The library this makes must still load on a machine without a GPU or NVIDIA driver, so that one jar serves both
# and the Java loader can fall back to a CPU variant only where the CUDA *runtime* libraries are missing:
#   - libcudart and libcublas are linked dynamically (ggml's default without GGML_STATIC): NEEDED libcudart.so.13,
#     libcublas.so.13 (CUDA 13), found through the usual dynamic-loader path at run time;
#   - GGML_CUDA_NO_VMM=ON: ggml then calls no driver API (cuMemCreate & co.), so libbloom does not link libcuda.so.1
#     (the driver) at all. cudart opens the driver itself on first use; with none, ggml-cuda reports 0 devices and
#     everything runs on the CPU;
#   - GGML_CUDA_NCCL=OFF: no libnccl dependency in a packaged library;
#   - the CUDA runtime of the link is the shared one (CMake's default for CUDA code is cudart_static).
#
# Cache variables:
#   BLOOM_CUDA_ARCHITECTURES  GPU architectures to compile for, passed to ggml as CMAKE_CUDA_ARCHITECTURES.
#                             Default "80;90" (A100, H100/H200), each as SASS plus PTX, so newer GPUs JIT the PTX.
#                             Commas work as separators too ("80,90,120"), easier to pass through Maven and shells.
#                             Every architecture adds roughly the whole ggml-cuda compile time again.
#   BLOOM_CUBLAS_ROOT         a cuBLAS outside the CUDA toolkit (include/cublas_v2.h, lib/libcublas.so*), e.g. the
#                             unpacked pip wheel nvidia-cublas (its nvidia/cu13 directory). Empty: the toolkit's.
# nvcc is taken from CMAKE_CUDA_COMPILER, $CUDACXX, PATH, $CUDA_HOME/bin, $CUDA_PATH/bin or /usr/local/cuda/bin.
include_guard(GLOBAL)

set(BLOOM_CUDA_ARCHITECTURES "80;90" CACHE STRING "GPU architectures of the CUDA build (CMAKE_CUDA_ARCHITECTURES)")
set(BLOOM_CUBLAS_ROOT "" CACHE PATH "cuBLAS outside the CUDA toolkit (include/ and lib/), e.g. an unpacked nvidia-cublas wheel")

if (NOT BLOOM_CUDA)
    return()
endif()

if (NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
    find_program(BLOOM_NVCC nvcc HINTS "$ENV{CUDA_HOME}/bin" "$ENV{CUDA_PATH}/bin" /usr/local/cuda/bin
        DOC "nvcc of the CUDA build")
    if (NOT BLOOM_NVCC)
        message(FATAL_ERROR "BLOOM_CUDA=ON but nvcc was not found on PATH, in $CUDA_HOME/bin, $CUDA_PATH/bin or "
            "/usr/local/cuda/bin: install the CUDA toolkit or pass -DCMAKE_CUDA_COMPILER=/path/to/nvcc")
    endif()
    set(CMAKE_CUDA_COMPILER "${BLOOM_NVCC}" CACHE FILEPATH "CUDA compiler" FORCE)
endif()

string(REPLACE "," ";" _bloom_cuda_archs "${BLOOM_CUDA_ARCHITECTURES}")
if (_bloom_cuda_archs STREQUAL "")
    message(FATAL_ERROR "BLOOM_CUDA_ARCHITECTURES is empty: name at least one GPU architecture, e.g. 90")
endif()
# ggml-cuda keeps a CMAKE_CUDA_ARCHITECTURES that is already defined (its own default list builds 7+ architectures).
set(CMAKE_CUDA_ARCHITECTURES "${_bloom_cuda_archs}" CACHE STRING "CUDA architectures (from BLOOM_CUDA_ARCHITECTURES)" FORCE)
set(CMAKE_CUDA_RUNTIME_LIBRARY Shared CACHE STRING "" FORCE)

set(GGML_CUDA_NO_VMM ON CACHE BOOL "" FORCE)
set(GGML_CUDA_NCCL OFF CACHE BOOL "" FORCE)

if (BLOOM_CUBLAS_ROOT)
    foreach (lib cublas cublasLt)
        file(GLOB _bloom_found "${BLOOM_CUBLAS_ROOT}/lib/lib${lib}.so" "${BLOOM_CUBLAS_ROOT}/lib/lib${lib}.so.[0-9]*"
            "${BLOOM_CUBLAS_ROOT}/lib64/lib${lib}.so" "${BLOOM_CUBLAS_ROOT}/lib64/lib${lib}.so.[0-9]*")
        if (NOT _bloom_found)
            message(FATAL_ERROR "BLOOM_CUBLAS_ROOT=${BLOOM_CUBLAS_ROOT} has no lib/lib${lib}.so*")
        endif()
        list(GET _bloom_found 0 _bloom_first)
        # FindCUDAToolkit's own cache entries: preset, they make CUDA::cublas point here. A wheel has only the
        # versioned file (libcublas.so.13), which the linker takes by path and records by its soname.
        set(CUDA_${lib}_LIBRARY "${_bloom_first}" CACHE FILEPATH "" FORCE)
    endforeach()
    if (NOT EXISTS "${BLOOM_CUBLAS_ROOT}/include/cublas_v2.h")
        message(FATAL_ERROR "BLOOM_CUBLAS_ROOT=${BLOOM_CUBLAS_ROOT} has no include/cublas_v2.h")
    endif()
endif()

# After ggml is added: what only the ggml-cuda target can take.
function(bloom_cuda_after_ggml)
    if (NOT TARGET ggml-cuda)
        message(FATAL_ERROR "BLOOM_CUDA=ON but ggml defined no ggml-cuda target")
    endif()
    if (BLOOM_CUBLAS_ROOT)
        target_include_directories(ggml-cuda SYSTEM PRIVATE "${BLOOM_CUBLAS_ROOT}/include")
    endif()
    # enable_language(CUDA) ran in ggml-cuda's directory: its variables are only visible there.
    get_target_property(_cuda_dir ggml-cuda SOURCE_DIR)
    get_directory_property(_cuda_version DIRECTORY "${_cuda_dir}" DEFINITION CMAKE_CUDA_COMPILER_VERSION)
    message(STATUS "bloom4j: CUDA ${_cuda_version} (${CMAKE_CUDA_COMPILER}), architectures "
        "${CMAKE_CUDA_ARCHITECTURES}, cuBLAS ${CUDA_cublas_LIBRARY}")
    # For native/CMakeLists.txt's cuda.properties, which the Java loader reads before it loads the library.
    set_property(GLOBAL PROPERTY BLOOM_CUDA_VERSION "${_cuda_version}")
endfunction()
