find_package(GTest REQUIRED)
include(GoogleTest)

# tdml_add_tests(NAME DIR...): one GoogleTest executable from the *_test.cpp files in DIRs.
# Tests learn where the `tdml` binary is through TDML_BIN (CLI and multi-process tests), and
# where the same commands built with test-only fault injection are through TDML_FAULT_BIN.
# Seconds each test may run (sanitizer builds raise it: scripts/sanitize.sh).
set(TDML_TEST_TIMEOUT 300 CACHE STRING "ctest timeout per test, in seconds")

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
  add_executable(${name} ${srcs} ${CMAKE_CURRENT_SOURCE_DIR}/support/test_support.cpp)
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE tdml GTest::gtest GTest::gtest_main)
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
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 120
                       PROPERTIES TIMEOUT ${TDML_TEST_TIMEOUT} ENVIRONMENT "OMP_WAIT_POLICY=PASSIVE")
endfunction()
