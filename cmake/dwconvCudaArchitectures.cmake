# CUDA architectures when the user set none: the GPU present, else sm_90
# (the H100 this library is tuned on). One architecture keeps builds short.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
  set(_dwconv_arch 90)
  find_program(_dwconv_nvidia_smi nvidia-smi)
  if(_dwconv_nvidia_smi)
    execute_process(COMMAND ${_dwconv_nvidia_smi} --query-gpu=compute_cap --format=csv,noheader
                    OUTPUT_VARIABLE _dwconv_caps RESULT_VARIABLE _dwconv_rc ERROR_QUIET
                    OUTPUT_STRIP_TRAILING_WHITESPACE TIMEOUT 20)
    if(_dwconv_rc EQUAL 0 AND _dwconv_caps MATCHES "^([0-9]+)\\.([0-9]+)")
      set(_dwconv_arch "${CMAKE_MATCH_1}${CMAKE_MATCH_2}")
    endif()
  endif()
  set(CMAKE_CUDA_ARCHITECTURES ${_dwconv_arch} CACHE STRING "CUDA architectures to build for")
  message(STATUS "dwconv: CUDA architectures ${CMAKE_CUDA_ARCHITECTURES}")
endif()
