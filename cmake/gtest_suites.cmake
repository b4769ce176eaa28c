cmake_minimum_required(VERSION 3.18)
# Writes the ctest entries of a GoogleTest binary (run after each link of it, or a change of
# the cost file; see tdml_add_tests in TdmlTesting.cmake):
#  - each test that took at least MIN_ALONE seconds in COSTS (tests/ctest-costs.txt, a ctest
#    CTestCostData.txt) is its own entry, named Suite.Test;
#  - the other tests of a suite run together in one process, as one entry named Suite.*.
# Every LibTorch process spends about a second loading its 335 libraries, and most tests take
# less than that: one process per suite instead of per test saves a third of the suite's time.
# A failing entry's output names the failed tests; run one with
# `tests/tdml_tests --gtest_filter=Suite.Test`.
#
# -D EXE=<test binary> OUT=<file to write> COSTS=<cost file> MIN_ALONE=<seconds>
#    TIMEOUT=<seconds per entry> ENV=<NAME=value;...>
foreach(var EXE OUT COSTS MIN_ALONE TIMEOUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "gtest_suites.cmake: -D${var}=... is missing")
  endif()
endforeach()

execute_process(COMMAND "${EXE}" --gtest_list_tests
                OUTPUT_VARIABLE listing ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXE} --gtest_list_tests failed (${rc}): ${err}")
endif()

set(alone_tests "")
if(EXISTS "${COSTS}")
  file(STRINGS "${COSTS}" cost_lines)
  foreach(line ${cost_lines})
    if(line MATCHES "^([^ ]+) [0-9]+ ([0-9.]+)$")
      set(test_name "${CMAKE_MATCH_1}")
      # CMake's if() compares numbers as integers or decimals: "12.5 GREATER_EQUAL 4" works.
      if(CMAKE_MATCH_2 GREATER_EQUAL MIN_ALONE)
        list(APPEND alone_tests "${test_name}")
      endif()
    endif()
  endforeach()
endif()

# The listing: "Suite." lines (a comment may follow), then "  Test" lines (a "  # GetParam()"
# comment may follow). Semicolons cannot occur in test names.
string(REPLACE "\n" ";" lines "${listing}")
set(suites "")
set(suite "")
foreach(line ${lines})
  if(line MATCHES "^([^ #][^ ]*)\\.( .*)?$")
    set(suite "${CMAKE_MATCH_1}")
    list(APPEND suites "${suite}")
    set(tests_${suite} "")
  elseif(line MATCHES "^  ([^ ]+)" AND NOT suite STREQUAL "")
    set(test "${CMAKE_MATCH_1}")
    if(NOT test MATCHES "^DISABLED_")
      list(APPEND tests_${suite} "${suite}.${test}")
    endif()
  endif()
endforeach()

# Exit status 77: no test failed and at least one skipped (tests/support/test_main.cpp).
set(props "TIMEOUT ${TIMEOUT} SKIP_RETURN_CODE 77")
if(DEFINED ENV AND NOT ENV STREQUAL "")
  string(APPEND props " ENVIRONMENT [==[${ENV}]==]")
endif()
set(text "# Written by cmake/gtest_suites.cmake from `${EXE} --gtest_list_tests`.\n")
set(entries 0)
set(test_count 0)
foreach(suite ${suites})
  set(grouped "")
  foreach(test ${tests_${suite}})
    math(EXPR test_count "${test_count} + 1")
    if(test IN_LIST alone_tests)
      string(APPEND text "add_test([==[${test}]==] [==[${EXE}]==] [==[--gtest_filter=${test}]==])\n"
                         "set_tests_properties([==[${test}]==] PROPERTIES ${props})\n")
      math(EXPR entries "${entries} + 1")
    else()
      list(APPEND grouped "${test}")
    endif()
  endforeach()
  if(NOT grouped STREQUAL "")
    string(REPLACE ";" ":" filter "${grouped}")
    string(APPEND text "add_test([==[${suite}.*]==] [==[${EXE}]==] [==[--gtest_filter=${filter}]==])\n"
                       "set_tests_properties([==[${suite}.*]==] PROPERTIES ${props})\n")
    math(EXPR entries "${entries} + 1")
  endif()
endforeach()
string(APPEND text "# ${test_count} tests in ${entries} ctest entries\n")

file(WRITE "${OUT}" "${text}")
