# dwconv's own per-type targets (tests, benchmarks, the C ABI) build one
# translation unit per element type so that the types compile in parallel;
# this maps each type's short name to its C++ name.
function(dwconv_cxx_type type out_var)
  if(type STREQUAL "half")
    set(${out_var} __half PARENT_SCOPE)
  elseif(type STREQUAL "bfloat16")
    set(${out_var} __nv_bfloat16 PARENT_SCOPE)
  else()
    set(${out_var} ${type} PARENT_SCOPE)
  endif()
endfunction()
