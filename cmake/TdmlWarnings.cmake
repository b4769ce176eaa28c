# Warnings on, for our own targets only (LibTorch headers are included as system headers).
function(tdml_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
endfunction()
