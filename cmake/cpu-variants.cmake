# The CPU variants of libbloom.so, x86-64 and aarch64: what each is compiled with and what a CPU needs to run it.
#
# Included by cmake/ggml.cmake (the build) and run as a script, which prints the variant this machine runs, or a
# variant's ggml options as CMake arguments (ci/llama/build.sh builds its llama.cpp oracle with them):
#     cmake -P cmake/cpu-variants.cmake          -> x86-64-v4-vnni-bf16 (say), or armv8-a..., or nothing elsewhere
#     cmake -DBLOOM_RUNNABLE=ON -P cmake/cpu-variants.cmake   -> every variant this machine runs, best first
#     cmake -DBLOOM_GGML_OPTIONS_OF=x86-64-v4 -P cmake/cpu-variants.cmake   -> -DGGML_SSE42=ON ... -DGGML_AMX_BF16=OFF
#     cmake -DBLOOM_GGML_OPTIONS_OF=armv8-a -P cmake/cpu-variants.cmake     -> -DGGML_CPU_ARM_ARCH=armv8-a
#     cmake -DBLOOM_VARIANTS_OF=aarch64 -P cmake/cpu-variants.cmake     -> every aarch64 variant (or x86_64's), best first
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

# The aarch64 library variants (cross-compiled with cmake/toolchain-aarch64-linux-gnu.cmake), best first: for each,
# the -march ggml's CPU backend is compiled with (GGML_CPU_ARM_ARCH), the words of /proc/cpuinfo's "Features" line a
# CPU must show to run it (the kernel's names of the AT_HWCAP bits ggml itself tests: asimddp = dotprod, fphp and
# asimdhp = fp16, i8mm, sve), and the qemu-user CPU the C++ tests of the variant run on.
# Every variant is armv8.2-a plus named extensions, never armv8.6-a: a higher base would let the compiler use what
# that base implies (bf16, rcpc, ...) without the chooser checking for it; armv8.2-a implies LSE atomics, CRC32 and
# RDMA (armv8.1-a), which every CPU with dotprod has and the flags below check anyway.
# Each variant's tests run on the weakest CPU qemu has that the variant claims (so an instruction outside the claim
# would be SIGILL there, not a pass): cortex-a57 (plain armv8.0, like Graviton 1 and Cortex-A72), neoverse-n1
# (Graviton 2, Ampere Altra), max without SVE (i8mm but no SVE, like Apple M2 and later under Linux), max with
# 128-bit SVE (Graviton 4, Grace, Neoverse V2 and N2). Graviton 3 has 256-bit SVE, and ggml kernels for it, but qemu
# took 451 s of CPU for test-gguf at 256 bits (by hand: BLOOM_QEMU_CPU_...-sve set to max,sve-default-vector-length=32)
# against 92 s at 128 (the setting below; 2026-12-04, both passed): too slow for CI.
set(BLOOM_AARCH64_VARIANTS armv8.2-a-dotprod-fp16-i8mm-sve armv8.2-a-dotprod-fp16-i8mm armv8.2-a-dotprod-fp16
    armv8-a)
set(BLOOM_ARM_ARCH_armv8-a armv8-a)
set(BLOOM_CPU_FLAGS_armv8-a fp asimd)
set(BLOOM_QEMU_CPU_armv8-a cortex-a57)
set(BLOOM_ARM_ARCH_armv8.2-a-dotprod-fp16 armv8.2-a+dotprod+fp16)
set(BLOOM_CPU_FLAGS_armv8.2-a-dotprod-fp16 ${BLOOM_CPU_FLAGS_armv8-a} atomics crc32 asimdrdm asimddp fphp asimdhp)
set(BLOOM_QEMU_CPU_armv8.2-a-dotprod-fp16 neoverse-n1)
set(BLOOM_ARM_ARCH_armv8.2-a-dotprod-fp16-i8mm armv8.2-a+dotprod+fp16+i8mm)
set(BLOOM_CPU_FLAGS_armv8.2-a-dotprod-fp16-i8mm ${BLOOM_CPU_FLAGS_armv8.2-a-dotprod-fp16} i8mm)
set(BLOOM_QEMU_CPU_armv8.2-a-dotprod-fp16-i8mm max,sve=off)
set(BLOOM_ARM_ARCH_armv8.2-a-dotprod-fp16-i8mm-sve armv8.2-a+dotprod+fp16+i8mm+sve)
set(BLOOM_CPU_FLAGS_armv8.2-a-dotprod-fp16-i8mm-sve ${BLOOM_CPU_FLAGS_armv8.2-a-dotprod-fp16-i8mm} sve)
set(BLOOM_QEMU_CPU_armv8.2-a-dotprod-fp16-i8mm-sve max,sve-default-vector-length=16)

# Sets out_var to the variants of this machine's architecture whose flags its /proc/cpuinfo shows, best first: the
# x86-64 ones by the "flags" line, the aarch64 ones by the "Features" line; an empty list where there is neither (not
# Linux on x86-64 or aarch64).
function(bloom_runnable_variants out_var)
    set(${out_var} "" PARENT_SCOPE)
    if (NOT EXISTS /proc/cpuinfo)
        return()
    endif()
    file(STRINGS /proc/cpuinfo _flags_line REGEX "^(flags|Features)[ \t]*:" LIMIT_COUNT 1)
    if (NOT _flags_line)
        return()
    endif()
    if (_flags_line MATCHES "^flags")
        set(_variants ${BLOOM_X86_VARIANTS})
    else()
        set(_variants ${BLOOM_AARCH64_VARIANTS})
    endif()
    string(REGEX REPLACE "^(flags|Features)[ \t]*:[ \t]*" "" _flags "${_flags_line}")
    string(REGEX REPLACE "[ \t]+" ";" _flags "${_flags}")
    set(_runnable "")
    foreach (v ${_variants})
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

# Sets out_var to the variant this machine's loader picks (the first runnable), or to "".
function(bloom_best_variant out_var)
    bloom_runnable_variants(_runnable)
    set(_best "")
    if (_runnable)
        list(GET _runnable 0 _best)
    endif()
    set(${out_var} "${_best}" PARENT_SCOPE)
endfunction()

if (CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
    if (DEFINED BLOOM_VARIANTS_OF)
        if (BLOOM_VARIANTS_OF STREQUAL "aarch64")
            string(REPLACE ";" " " _bloom_list "${BLOOM_AARCH64_VARIANTS}")
        elseif (BLOOM_VARIANTS_OF STREQUAL "x86_64")
            string(REPLACE ";" " " _bloom_list "${BLOOM_X86_VARIANTS}")
        else()
            message(FATAL_ERROR "BLOOM_VARIANTS_OF must be aarch64 or x86_64, not '${BLOOM_VARIANTS_OF}'")
        endif()
        execute_process(COMMAND ${CMAKE_COMMAND} -E echo "${_bloom_list}")
    elseif (DEFINED BLOOM_GGML_OPTIONS_OF)
        if (BLOOM_GGML_OPTIONS_OF IN_LIST BLOOM_AARCH64_VARIANTS)
            execute_process(COMMAND ${CMAKE_COMMAND} -E echo
                "-DGGML_CPU_ARM_ARCH=${BLOOM_ARM_ARCH_${BLOOM_GGML_OPTIONS_OF}}")
            return()
        endif()
        if (NOT BLOOM_GGML_OPTIONS_OF IN_LIST BLOOM_X86_VARIANTS)
            message(FATAL_ERROR "no variant '${BLOOM_GGML_OPTIONS_OF}' (${BLOOM_X86_VARIANTS} ${BLOOM_AARCH64_VARIANTS})")
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
        bloom_runnable_variants(_bloom_runnable)
        string(REPLACE ";" " " _bloom_runnable "${_bloom_runnable}")
        execute_process(COMMAND ${CMAKE_COMMAND} -E echo "${_bloom_runnable}")
    else()
        bloom_best_variant(_bloom_best)
        execute_process(COMMAND ${CMAKE_COMMAND} -E echo "${_bloom_best}")
    endif()
endif()
