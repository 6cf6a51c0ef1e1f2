# How every ConnGuard target is built, in one place: warnings, sanitizers, the include root and the
# precompiled headers are applied per target by these functions, never by global flags.
#
#   connguard_library(<name> SOURCES ... [DEPS ...] [PRIVATE_DEPS ...])
#       a static library connguard_<name>, usable as connguard::<name>
#   connguard_executable(<name> SOURCES ... [DEPS ...])
#       a binary in build/bin
#   (libraries and binaries reuse one precompiled header, connguard_lib_pch; tests another)
#   connguard_lean_link(<target>)
#       link a long-running binary for a small resident set (the agent; agent/README.md "Memory")
#   connguard_test(<name> SOURCES ... [DEPS ...] [NEEDS <binaries>] [TIMEOUT <s>] [DEFINES ...])
#       a GoogleTest executable whose tests ctest discovers; NEEDS builds the binaries it starts
#
# Options read here: CONNGUARD_WERROR, CONNGUARD_SANITIZE (see the top-level CMakeLists.txt).
include_guard(GLOBAL)

# -Wall -Wextra on our own code; -Werror only when asked (CI and the dev preset).
function(connguard_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  if(CONNGUARD_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  # GCC 12 reports false -Wrestrict, -Wstringop-overflow and -Warray-bounds inside libstdc++'s
  # std::string operator+ / replace at -O2/-O3 (GCC bugs 105329, 105651, 107852; fixed in GCC 13),
  # depending on inlining decisions that change with the precompiled header or a loop around
  # `"text" + std::to_string(n)`: a Release build must not fail on them. Real out-of-bounds accesses
  # are what the ASan+UBSan pass of every test is for.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-restrict -Wno-stringop-overflow -Wno-array-bounds)
  endif()
endfunction()

# AddressSanitizer + UndefinedBehaviorSanitizer when CONNGUARD_SANITIZE is on. Libraries pass the
# link flag on to whatever links them. Sanitized code is compiled at -O1 with line tables only
# (-g1), whatever the build type: -O1 is what ASan's authors recommend (at -O2 some faults are
# optimized away), line tables are all a sanitizer's stack trace needs, and together they halve the
# sanitized build (GCC 12: coordinator/engine.cpp 71 s at -O2 -g, 33 s at -O1 -g1).
function(connguard_sanitizers target)
  if(NOT CONNGUARD_SANITIZE)
    return()
  endif()
  target_compile_options(${target} PRIVATE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -O1 -g1)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  else()
    target_link_options(${target} INTERFACE -fsanitize=address,undefined)
  endif()
endfunction()

function(connguard_target_defaults target)
  connguard_warnings(${target})
  connguard_sanitizers(${target})
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    target_include_directories(${target} PRIVATE ${CONNGUARD_SOURCE_ROOT})
  else()
    # "common/...", "agent/...", "coordinator/..." headers are included by their path from the root.
    target_include_directories(${target} PUBLIC ${CONNGUARD_SOURCE_ROOT})
  endif()
endfunction()

# Libraries and binaries share one precompiled header with the heavy includes (the standard library
# parts we use, protobuf and the generated connguard.v1 messages, nlohmann-json, spdlog): built once
# by connguard_lib_pch (common/CMakeLists.txt), reused by every target. GCC only: clang's PCH must
# match every flag, and the fuzz targets add their own.
function(connguard_shared_pch target)
  if(TARGET connguard_lib_pch AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_precompile_headers(${target} REUSE_FROM connguard_lib_pch)
  endif()
endfunction()

function(connguard_library name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;DEPS;PRIVATE_DEPS")
  add_library(connguard_${name} STATIC ${arg_SOURCES})
  target_link_libraries(connguard_${name} PUBLIC ${arg_DEPS} PRIVATE ${arg_PRIVATE_DEPS})
  connguard_target_defaults(connguard_${name})
  connguard_shared_pch(connguard_${name})
  add_library(connguard::${name} ALIAS connguard_${name})
endfunction()

function(connguard_add_executable_ name)  # without a precompiled header
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;DEPS")
  add_executable(${name} ${arg_SOURCES})
  target_link_libraries(${name} PRIVATE ${arg_DEPS})
  connguard_target_defaults(${name})
endfunction()

function(connguard_executable name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;DEPS")
  connguard_add_executable_(${name} SOURCES ${arg_SOURCES} DEPS ${arg_DEPS})
  connguard_shared_pch(${name})
endfunction()

# A long-running binary whose resident memory counts (the agent, one process per tenant): libprotobuf
# linked from Debian's static archive, so only the pages of it the binary touches are resident
# instead of the fault-around windows of a 3 MB shared library no other process maps; the linker
# drops unreferenced sections. Not under the sanitizers (their runtime wants the ordinary link, and
# the figure means nothing there): that build links exactly like the others.
function(connguard_lean_link target)
  if(CONNGUARD_SANITIZE OR NOT CONNGUARD_PROTOBUF_STATIC)
    return()
  endif()
  set_property(TARGET ${target} PROPERTY CONNGUARD_STATIC_PROTOBUF ON)
  target_link_options(${target} PRIVATE -Wl,--gc-sections)
endfunction()

# Test executables share one precompiled header (gtest, gmock, the standard library, JSON): built
# once by connguard_test_pch, reused by every test (tests/CMakeLists.txt defines it).
function(connguard_test name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "TIMEOUT" "SOURCES;DEPS;NEEDS;DEFINES")
  connguard_add_executable_(${name} SOURCES ${arg_SOURCES} DEPS ${arg_DEPS} connguard::test_support)
  if(arg_DEFINES)
    target_compile_definitions(${name} PRIVATE ${arg_DEFINES})
  endif()
  if(TARGET connguard_test_pch AND NOT arg_DEFINES)
    target_precompile_headers(${name} REUSE_FROM connguard_test_pch)
  endif()
  if(arg_NEEDS)
    add_dependencies(${name} ${arg_NEEDS})
  endif()
  if(arg_TIMEOUT)
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT ${arg_TIMEOUT})
  else()
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60)
  endif()
endfunction()
