# The x86-64 CPU variants of libbloom.so: what each is compiled with and what a CPU needs to run it.
#
# Included by cmake/ggml.cmake (the build) and run as a script, which prints the variant this machine runs, or a
# variant's ggml options as CMake arguments (ci/llama/build.sh builds its llama.cpp oracle with them):
#     cmake -P cmake/cpu-variants.cmake          -> x86-64-v4-vnni-bf16 (say), or nothing off x86-64 Linux
#     cmake -DBLOOM_RUNNABLE=ON -P cmake/cpu-variants.cmake   -> every variant this machine runs, best first
#     cmake -DBLOOM_GGML_OPTIONS_OF=x86-64-v4 -P cmake/cpu-variants.cmake   -> -DGGML_SSE42=ON ... -DGGML_AMX_BF16=OFF
include_guard(GLOBAL)
cmake_policy(SET CMP0057 NEW)  # if (... IN_LIST ...): on in the project, not by default in script mode

# The x86-64 library variants, best first: for each, the ggml options it is compiled with and the /proc/cpuinfo
# flags a CPU must show to run it. The jar's loader checks the same flags, in the same order (bindings' CpuVariant;
# CpuVariantTest reads this file to hold the two together): a variant runs only where all of its flags are present.
set(BLOOM_X86_VARIANTS x86-64-v4-vnni-bf16 x86-64-v4 x86-64-v3 x86-64-v2)
set(BLOOM_X86_GGML_OPTIONS SSE42 AVX F16C FMA AVX2 BMI2 AVX_VNNI AVX512 AVX512_VBMI AVX512_VNNI AVX512_BF16
    AMX_TILE AMX_INT8 AMX_BF16)
set(BLOOM_GGML_OPTIONS_x86-64-v2 SSE42)
set(BLOOM_CPU_FLAGS_x86-64-v2 sse4_2)
set(BLOOM_GGML_OPTIONS_x86-64-v3 ${BLOOM_GGML_OPTIONS_x86-64-v2} AVX F16C FMA AVX2 BMI2)
set(BLOOM_CPU_FLAGS_x86-64-v3 ${BLOOM_CPU_FLAGS_x86-64-v2} avx f16c fma avx2 bmi2)
set(BLOOM_GGML_OPTIONS_x86-64-v4 ${BLOOM_GGML_OPTIONS_x86-64-v3} AVX512)   # -mavx512f/cd/vl/dq/bw
set(BLOOM_CPU_FLAGS_x86-64-v4 ${BLOOM_CPU_FLAGS_x86-64-v3} avx512f avx512cd avx512vl avx512dq avx512bw)
set(BLOOM_GGML_OPTIONS_x86-64-v4-vnni-bf16 ${BLOOM_GGML_OPTIONS_x86-64-v4} AVX512_VNNI AVX512_BF16)
set(BLOOM_CPU_FLAGS_x86-64-v4-vnni-bf16 ${BLOOM_CPU_FLAGS_x86-64-v4} avx512_vnni avx512_bf16)

# Sets out_var to the variants of BLOOM_X86_VARIANTS whose flags this machine's /proc/cpuinfo shows, best first, or
# to an empty list where there is no /proc/cpuinfo with a flags line (not Linux on x86-64).
function(bloom_runnable_x86_variants out_var)
    set(${out_var} "" PARENT_SCOPE)
    if (NOT EXISTS /proc/cpuinfo)
        return()
    endif()
    file(STRINGS /proc/cpuinfo _flags_line REGEX "^flags[ \t]*:" LIMIT_COUNT 1)
    if (NOT _flags_line)
        return()
    endif()
    string(REGEX REPLACE "^flags[ \t]*:[ \t]*" "" _flags "${_flags_line}")
    string(REGEX REPLACE "[ \t]+" ";" _flags "${_flags}")
    set(_runnable "")
    foreach (v ${BLOOM_X86_VARIANTS})
        set(_runs ON)
        foreach (f ${BLOOM_CPU_FLAGS_${v}})
            if (NOT f IN_LIST _flags)
                set(_runs OFF)
            endif()
        endforeach()
        if (_runs)
            list(APPEND _runnable "${v}")
        endif()
    endforeach()
    set(${out_var} "${_runnable}" PARENT_SCOPE)
endfunction()

# Sets out_var to the variant this machine's loader picks among the x86-64 ones (the first runnable), or to "".
function(bloom_best_x86_variant out_var)
    bloom_runnable_x86_variants(_runnable)
    set(_best "")
    if (_runnable)
        list(GET _runnable 0 _best)
    endif()
    set(${out_var} "${_best}" PARENT_SCOPE)
endfunction()

if (CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
    if (DEFINED BLOOM_GGML_OPTIONS_OF)
        if (NOT BLOOM_GGML_OPTIONS_OF IN_LIST BLOOM_X86_VARIANTS)
            message(FATAL_ERROR "no x86-64 variant '${BLOOM_GGML_OPTIONS_OF}' (${BLOOM_X86_VARIANTS})")
        endif()
        set(_bloom_args "")
        foreach (f ${BLOOM_X86_GGML_OPTIONS})
            if (f IN_LIST BLOOM_GGML_OPTIONS_${BLOOM_GGML_OPTIONS_OF})
                list(APPEND _bloom_args "-DGGML_${f}=ON")
            else()
                list(APPEND _bloom_args "-DGGML_${f}=OFF")
            endif()
        endforeach()
        string(REPLACE ";" " " _bloom_args "${_bloom_args}")
        execute_process(COMMAND ${CMAKE_COMMAND} -E echo "${_bloom_args}")
    elseif (BLOOM_RUNNABLE)
        bloom_runnable_x86_variants(_bloom_runnable)
        string(REPLACE ";" " " _bloom_runnable "${_bloom_runnable}")
        execute_process(COMMAND ${CMAKE_COMMAND} -E echo "${_bloom_runnable}")
    else()
        bloom_best_x86_variant(_bloom_best)
        execute_process(COMMAND ${CMAKE_COMMAND} -E echo "${_bloom_best}")
    endif()
endif()
