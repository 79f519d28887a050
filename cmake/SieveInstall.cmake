# `cmake --install` layout: headers under include/sieve, static libraries and
# libsieve_c.so under lib, the CLI under bin, and a package config so that
# another project can `find_package(sieve)`:
#   sieve::runtime      MLIR-free: loads `sieve compile` artifacts, launches
#                       them through the CUDA Driver API (libcuda opened at
#                       run time), the kernel and artifact caches
#   sieve::c            the C API (sieve.h) as one shared library exporting
#                       only sieve_*; it links the LLVM/MLIR 22 shared
#                       libraries, or holds them with SIEVE_STATIC_LLVM=ON
#   sieve::compiler     compiles masks itself (needs LLVM/MLIR 22 installed);
#                       brings sieve::runtime_cpu, the CPU backend
# Two export sets, so a runtime-only consumer never needs MLIR's CMake files.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SIEVE_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/sieve)

# Installed binaries keep the run path to the LLVM/MLIR shared libraries
# they were linked with (Debian puts them outside the default search path).
set_target_properties(sieve_c sieve PROPERTIES INSTALL_RPATH_USE_LINK_PATH TRUE)
set_target_properties(sieve_runtime PROPERTIES EXPORT_NAME runtime)
set_target_properties(sieve_c PROPERTIES EXPORT_NAME c)
set_target_properties(sieve_runtime_cpu PROPERTIES EXPORT_NAME runtime_cpu)
set_target_properties(sieve_dialect PROPERTIES EXPORT_NAME dialect)
set_target_properties(sieve_passes PROPERTIES EXPORT_NAME passes)
set_target_properties(sieve_compiler PROPERTIES EXPORT_NAME compiler)

install(TARGETS sieve_runtime sieve_c EXPORT sieveRuntimeTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS sieve_runtime_cpu sieve_dialect sieve_passes sieve_compiler
  EXPORT sieveCompilerTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS sieve RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/tools/sieve/completion/sieve.bash
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME sieve)

foreach(dir runtime/include runtime/cpu/include runtime/capi/include compiler/include)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
          FILES_MATCHING PATTERN "*.h")
endforeach()

install(EXPORT sieveRuntimeTargets NAMESPACE sieve:: DESTINATION ${SIEVE_INSTALL_CMAKEDIR})
install(EXPORT sieveCompilerTargets NAMESPACE sieve:: DESTINATION ${SIEVE_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/sieveConfig.cmake.in
  ${PROJECT_BINARY_DIR}/sieveConfig.cmake INSTALL_DESTINATION ${SIEVE_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/sieveConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/sieveConfig.cmake ${PROJECT_BINARY_DIR}/sieveConfigVersion.cmake
  DESTINATION ${SIEVE_INSTALL_CMAKEDIR})
