# ctest -P script: proves that find_package(dwconv) works for a project
# outside this tree. MODE=install installs to a scratch prefix first;
# MODE=build_tree points the consumer at the build tree. Then it configures,
# builds and runs examples/consumer.
foreach(var DWCONV_SOURCE_DIR DWCONV_BINARY_DIR MODE CUDA_ARCHITECTURES CUDA_COMPILER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "dwconvPackageTest.cmake needs -D${var}=")
  endif()
endforeach()

set(scratch ${DWCONV_BINARY_DIR}/package_test/${MODE})
file(REMOVE_RECURSE ${scratch})
if(MODE STREQUAL "install")
  execute_process(COMMAND ${CMAKE_COMMAND} --install ${DWCONV_BINARY_DIR} --prefix ${scratch}/prefix
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install failed (${rc})")
  endif()
  set(locate -DCMAKE_PREFIX_PATH=${scratch}/prefix)
else()
  set(locate -Ddwconv_DIR=${DWCONV_BINARY_DIR})
endif()

execute_process(COMMAND ${CMAKE_COMMAND} -S ${DWCONV_SOURCE_DIR}/examples/consumer -B ${scratch}/build
                        ${locate} -DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHITECTURES}
                        -DCMAKE_CUDA_COMPILER=${CUDA_COMPILER} -DCMAKE_BUILD_TYPE=Release
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the consumer failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${scratch}/build RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the consumer failed (${rc})")
endif()
execute_process(COMMAND ${scratch}/build/dwconv_consumer RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the consumer failed (${rc})")
endif()
