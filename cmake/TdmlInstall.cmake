# `cmake --install BUILD [--prefix P]`: the tdml binary, the area libraries, the public headers,
# plot.py and a CMake package, so another project does
#     find_package(tdml REQUIRED)                      # CMAKE_PREFIX_PATH=P
#     target_link_libraries(app PRIVATE tdml::tdml)
# (examples/cpp-ddp is such a project). The package finds tdml's own dependencies again
# (LibTorch, OpenSSL, spdlog, ...) with the paths this build used.
include(CMakePackageConfigHelpers)
set(TDML_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/tdml)

install(TARGETS tdml_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS tdml tdml_deps ${TDML_AREA_TARGETS} EXPORT tdmlTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set_target_properties(tdml_deps PROPERTIES EXPORT_NAME deps)
install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/tdml DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(PROGRAMS ${CMAKE_CURRENT_SOURCE_DIR}/scripts/plot.py DESTINATION ${CMAKE_INSTALL_DATADIR}/tdml)
install(EXPORT tdmlTargets NAMESPACE tdml:: DESTINATION ${TDML_CMAKE_DIR})

# What the config must find again, with the locations this build used.
get_filename_component(TDML_TORCH_DIR "${Torch_DIR}" ABSOLUTE)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/tdmlConfig.cmake.in
  ${CMAKE_BINARY_DIR}/tdmlConfig.cmake INSTALL_DESTINATION ${TDML_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/tdmlConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/tdmlConfig.cmake ${CMAKE_BINARY_DIR}/tdmlConfigVersion.cmake
        DESTINATION ${TDML_CMAKE_DIR})
