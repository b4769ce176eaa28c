find_package(GTest REQUIRED)

# tdml_add_tests(NAME DIR...): one GoogleTest executable from the *_test.cpp files in DIRs.
# Tests learn where the `tdml` binary is through TDML_BIN (CLI and multi-process tests), and
# where the same commands built with test-only fault injection are through TDML_FAULT_BIN.
# Seconds each test may run (sanitizer builds raise it: scripts/sanitize.sh).
set(TDML_TEST_TIMEOUT 300 CACHE STRING "ctest timeout per test, in seconds")
# A test that took at least this long in tests/ctest-costs.txt is its own ctest entry; the others
# run one process per suite (cmake/gtest_suites.cmake).
set(TDML_TEST_ALONE_SECONDS 4 CACHE STRING "tests at least this long (tests/ctest-costs.txt) get their own ctest entry")

# Test code itself compiles at -O1 in optimized builds: a quarter less compile time than -O3 for the
# suite's unity batches, and the code it tests (the libraries) keeps the build's own level. -O1
# still defines __OPTIMIZE__, so the torch PCH built at -O3 stays valid.
function(tdml_test_optimization target)
  target_compile_options(${target} PRIVATE $<$<CONFIG:Release,RelWithDebInfo>:-O1>)
endfunction()

function(tdml_add_tests name)
  set(srcs "")
  foreach(dir ${ARGN})
    file(GLOB found CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/*_test.cpp)
    list(APPEND srcs ${found})
  endforeach()
  add_executable(${name} ${srcs} ${CMAKE_CURRENT_SOURCE_DIR}/support/test_support.cpp
                         ${CMAKE_CURRENT_SOURCE_DIR}/support/test_main.cpp)
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE tdml GTest::gtest)
  target_compile_definitions(${name} PRIVATE TDML_BIN="$<TARGET_FILE:tdml_cli>"
                                             TDML_FAULT_BIN="$<TARGET_FILE:tdml_fault_cli>")
  add_dependencies(${name} tdml_cli tdml_fault_cli)
  tdml_warnings(${name})
  tdml_test_optimization(${name})
  if(TDML_USE_PCH)
    target_precompile_headers(${name} REUSE_FROM tdml_util)
  endif()
  # ctest runs tests side by side: OpenMP threads that spin while they wait (GNU OpenMP's
  # default) then steal the cores of the test beside them (two 2-thread training tests took 3x
  # their serial time); passive waiting removes that. No test asserts a speed.
  # The ctest entries (one per long test, one per suite for the rest: cmake/gtest_suites.cmake)
  # are written after each link or change of tests/ctest-costs.txt; ctest reads them through
  # the include file.
  set(entries ${CMAKE_CURRENT_BINARY_DIR}/${name}_entries.cmake)
  add_custom_command(OUTPUT ${entries}
    COMMAND ${CMAKE_COMMAND} -DEXE=$<TARGET_FILE:${name}> -DOUT=${entries}
            -DCOSTS=${PROJECT_SOURCE_DIR}/tests/ctest-costs.txt -DMIN_ALONE=${TDML_TEST_ALONE_SECONDS}
            -DTIMEOUT=${TDML_TEST_TIMEOUT} -DENV=OMP_WAIT_POLICY=PASSIVE
            -P ${PROJECT_SOURCE_DIR}/cmake/gtest_suites.cmake
    DEPENDS ${name} ${PROJECT_SOURCE_DIR}/cmake/gtest_suites.cmake ${PROJECT_SOURCE_DIR}/tests/ctest-costs.txt
    VERBATIM)
  add_custom_target(${name}_entries ALL DEPENDS ${entries})
  set(include_file ${CMAKE_CURRENT_BINARY_DIR}/${name}_include.cmake)
  file(WRITE ${include_file}
       "if(EXISTS [==[${entries}]==])\n  include([==[${entries}]==])\nelse()\n"
       "  add_test(${name}_NOT_BUILT ${name}_NOT_BUILT)\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${include_file})
endfunction()
