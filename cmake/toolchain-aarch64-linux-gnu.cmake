# Cross-compiles for Linux on aarch64 with Debian's toolchain (apt-get install g++-aarch64-linux-gnu), on an x86-64
# (or any) Linux host:
#     cmake -S . -B build/armv8-a -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64-linux-gnu.cmake -DBLOOM_CPU_VARIANT=armv8-a
# BLOOM_CPU_VARIANT is one of cmake/cpu-variants.cmake's BLOOM_AARCH64_VARIANTS. Where qemu-user is installed
# (Debian's qemu-user or qemu-user-static), the root CMakeLists.txt runs the C++ tests under it
# (CMAKE_CROSSCOMPILING_EMULATOR), on the qemu CPU the variant names.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(BLOOM_AARCH64_TRIPLE aarch64-linux-gnu)
find_program(BLOOM_AARCH64_CXX ${BLOOM_AARCH64_TRIPLE}-g++)
find_program(BLOOM_AARCH64_CC ${BLOOM_AARCH64_TRIPLE}-gcc)
if (NOT BLOOM_AARCH64_CXX OR NOT BLOOM_AARCH64_CC)
    message(FATAL_ERROR "no ${BLOOM_AARCH64_TRIPLE}-gcc/g++ on PATH: install Debian's g++-aarch64-linux-gnu to "
        "cross-compile the aarch64 libraries")
endif()
set(CMAKE_C_COMPILER "${BLOOM_AARCH64_CC}")
set(CMAKE_CXX_COMPILER "${BLOOM_AARCH64_CXX}")

# Debian installs the target's libc, libstdc++ and headers under /usr/aarch64-linux-gnu. Headers and libraries come
# only from there; programs (git, npm, python) from the host.
set(BLOOM_AARCH64_SYSROOT /usr/${BLOOM_AARCH64_TRIPLE} CACHE PATH "Where the aarch64 libc lives (qemu's -L)")
set(CMAKE_FIND_ROOT_PATH "${BLOOM_AARCH64_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# qemu-user, for the tests; empty where neither package is installed (the tests are then not built).
find_program(BLOOM_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
