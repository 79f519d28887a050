# Precompiled headers for the targets whose sources spend most of their
# compile time parsing the same headers (MLIR's dialects, CLI11,
# GoogleTest). CI builds three trees on two cores from an empty cache; this
# is most of what keeps it inside its time (docs/reliability.md).
option(SIEVE_PCH "Precompile the heavy headers of the MLIR, CLI and test targets" ON)

# ccache caches compiles that use a precompiled header only when told the
# header's timestamp and predefined macros do not matter to it. Its base
# folder (the caller's CCACHE_BASEDIR, else the source folder) makes the
# paths it hashes relative, so trees at the same depth share objects: the
# wheel's build-wheel-* tree (pyproject.toml) compiles almost nothing that
# build/ compiled before.
if(DEFINED ENV{CCACHE_BASEDIR})
  set(SIEVE_CCACHE_BASEDIR "$ENV{CCACHE_BASEDIR}")
else()
  set(SIEVE_CCACHE_BASEDIR "${PROJECT_SOURCE_DIR}")
endif()
if(SIEVE_PCH AND CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      CCACHE_BASEDIR=${SIEVE_CCACHE_BASEDIR} ${CCACHE_PROGRAM})
endif()

# sieve_precompile(<target> <header in cmake/pch>)
function(sieve_precompile target header)
  if(NOT SIEVE_PCH)
    return()
  endif()
  target_precompile_headers(${target} PRIVATE ${PROJECT_SOURCE_DIR}/cmake/pch/${header})
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    # A timestamp inside the PCH would make every rebuild a ccache miss.
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Xclang -fno-pch-timestamp>)
  endif()
endfunction()
