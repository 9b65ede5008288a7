# The pinned llama.cpp source tree: the release bundled in the npm package node-llama-cpp@3.22.1, fetched with
# `npm pack`, its git bundle checked against a SHA-256, cloned at a fixed commit and cached under BLOOM_CACHE_DIR
# (outside any build tree, so a clean build does not fetch again).
#
# Two users, one definition of "the pinned source":
#   - the native build (cmake/ggml.cmake) includes this file and builds ggml from <tree>/ggml;
#   - ci/llama/build.sh runs it as a script to build llama.cpp itself as a test oracle:
#         cmake [-DBLOOM_CACHE_DIR=DIR] -P cmake/fetch-llama.cpp.cmake
#     fetches if needed and prints the tree's path as the last line of stdout.
#
# Cache directory, in order: -DBLOOM_CACHE_DIR, $BLOOM_CACHE_DIR, $XDG_CACHE_HOME/bloom4j, ~/.cache/bloom4j.
include_guard(GLOBAL)

set(BLOOM_GGML_NPM_PACKAGE "node-llama-cpp@3.22.1")
set(BLOOM_GGML_BUNDLE_SHA256 "5f5d1105d5df040738d87b8290e5d17e7362131cdcfdb0831618e0ea528b4a51")
set(BLOOM_GGML_COMMIT "de3ff815ea7d559ee917f063901b8986f038abc6")

# Sets out_var to the default cache directory (see the header); -DBLOOM_CACHE_DIR wins over all of it.
function(bloom_default_cache_dir out_var)
    if (DEFINED ENV{BLOOM_CACHE_DIR})
        set(dir "$ENV{BLOOM_CACHE_DIR}")
    elseif (DEFINED ENV{XDG_CACHE_HOME})
        set(dir "$ENV{XDG_CACHE_HOME}/bloom4j")
    else()
        set(dir "$ENV{HOME}/.cache/bloom4j")
    endif()
    set(${out_var} "${dir}" PARENT_SCOPE)
endfunction()

# Sets out_var to <cache_dir>/llama.cpp-<commit>, fetching and verifying it first if it is not there yet.
# The checkout is built in <path>.tmp and renamed at the end, so an interrupted fetch never leaves a tree that
# looks complete.
function(bloom_fetch_pinned_llama_cpp out_var cache_dir)
    set(src "${cache_dir}/llama.cpp-${BLOOM_GGML_COMMIT}")
    if (EXISTS "${src}/ggml/CMakeLists.txt" AND EXISTS "${src}/include/llama.h")
        set(${out_var} "${src}" PARENT_SCOPE)
        return()
    endif()
    find_program(NPM npm)
    find_program(GIT git)
    find_program(TAR tar)
    if (NOT NPM OR NOT GIT OR NOT TAR)
        message(FATAL_ERROR "Fetching the pinned llama.cpp needs npm, git and tar on PATH "
            "(for the native build: or pass -DGGML_SOURCE_DIR=... / -DBLOOM_USE_SYSTEM_GGML=ON).")
    endif()
    set(work "${cache_dir}/fetch")
    file(REMOVE_RECURSE "${work}")
    file(MAKE_DIRECTORY "${work}")
    message(STATUS "bloom4j: fetching llama.cpp: npm pack ${BLOOM_GGML_NPM_PACKAGE} into ${work}")
    execute_process(COMMAND "${NPM}" pack "${BLOOM_GGML_NPM_PACKAGE}" --silent
        WORKING_DIRECTORY "${work}" RESULT_VARIABLE rc OUTPUT_VARIABLE tgz ERROR_VARIABLE err
        OUTPUT_STRIP_TRAILING_WHITESPACE)
    if (NOT rc EQUAL 0)
        message(FATAL_ERROR "npm pack ${BLOOM_GGML_NPM_PACKAGE} failed (${rc}): ${err}")
    endif()
    # npm may print notices before the file name; the name is the last line.
    string(REGEX REPLACE ".*\n" "" tgz "${tgz}")
    execute_process(COMMAND "${TAR}" xzf "${tgz}" package/llama/gitRelease.bundle
        WORKING_DIRECTORY "${work}" RESULT_VARIABLE rc)
    set(bundle "${work}/package/llama/gitRelease.bundle")
    if (NOT rc EQUAL 0 OR NOT EXISTS "${bundle}")
        message(FATAL_ERROR "${tgz} has no llama/gitRelease.bundle")
    endif()
    file(SHA256 "${bundle}" sha)
    if (NOT sha STREQUAL BLOOM_GGML_BUNDLE_SHA256)
        message(FATAL_ERROR "Checksum mismatch for ${bundle}: got ${sha}, expected ${BLOOM_GGML_BUNDLE_SHA256}")
    endif()
    file(REMOVE_RECURSE "${src}.tmp")
    execute_process(COMMAND "${GIT}" -c advice.detachedHead=false clone --quiet "${bundle}" "${src}.tmp"
        RESULT_VARIABLE rc ERROR_VARIABLE err)
    if (rc EQUAL 0)
        execute_process(COMMAND "${GIT}" -c advice.detachedHead=false checkout --quiet "${BLOOM_GGML_COMMIT}"
            WORKING_DIRECTORY "${src}.tmp" RESULT_VARIABLE rc ERROR_VARIABLE err)
    endif()
    if (NOT rc EQUAL 0)
        message(FATAL_ERROR "git clone/checkout of ${bundle} at ${BLOOM_GGML_COMMIT} failed: ${err}")
    endif()
    file(RENAME "${src}.tmp" "${src}")
    file(REMOVE_RECURSE "${work}")
    set(${out_var} "${src}" PARENT_SCOPE)
endfunction()

if (CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
    if (NOT BLOOM_CACHE_DIR)
        bloom_default_cache_dir(BLOOM_CACHE_DIR)
    endif()
    bloom_fetch_pinned_llama_cpp(_bloom_llama_src "${BLOOM_CACHE_DIR}")
    # message() writes to stderr; the path goes to stdout for the calling script.
    execute_process(COMMAND "${CMAKE_COMMAND}" -E echo "${_bloom_llama_src}")
endif()
