# Debian's MLIR targets link against the imported `LLVM` shared library. For the
# binaries that travel to the lent GPU (no LLVM there) point that target at a linker
# script grouping the static archives instead; the result needs only libz, libzstd
# and libstdc++ (see shared/DESIGN.md).
file(GLOB sieve_llvm_static ${LLVM_LIBRARY_DIR}/libLLVM*.a)
list(JOIN sieve_llvm_static " " sieve_llvm_static_list)
file(WRITE ${CMAKE_BINARY_DIR}/libLLVM-static.so
     "GROUP (${sieve_llvm_static_list} -lz -lzstd -lpthread -ldl -lrt -lm)\n")
set_target_properties(LLVM PROPERTIES
  IMPORTED_LOCATION ${CMAKE_BINARY_DIR}/libLLVM-static.so
  IMPORTED_LOCATION_RELEASE ${CMAKE_BINARY_DIR}/libLLVM-static.so
  IMPORTED_LOCATION_RELWITHDEBINFO ${CMAKE_BINARY_DIR}/libLLVM-static.so
  IMPORTED_SONAME "")

# Debian's MLIRExecutionEngine (and a few others) also name the `MLIR`
# shared library in their link interface. Everything we use from it we link
# as static MLIR archives already, so point it at an empty archive.
set_target_properties(MLIR PROPERTIES
  IMPORTED_LOCATION ${CMAKE_BINARY_DIR}/libsieve_empty_stub.a
  IMPORTED_LOCATION_RELEASE ${CMAKE_BINARY_DIR}/libsieve_empty_stub.a
  IMPORTED_LOCATION_RELWITHDEBINFO ${CMAKE_BINARY_DIR}/libsieve_empty_stub.a
  IMPORTED_SONAME "")
execute_process(COMMAND ${CMAKE_AR} rc ${CMAKE_BINARY_DIR}/libsieve_empty_stub.a)
