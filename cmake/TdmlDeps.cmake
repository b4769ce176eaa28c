# Finds every dependency and exposes them as one interface target, tdml::deps.
find_package(Torch REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(CURL REQUIRED)
find_package(ZLIB REQUIRED)
find_package(Threads REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_path(CXXOPTS_INCLUDE_DIR cxxopts.hpp REQUIRED)

add_library(tdml_deps INTERFACE)
add_library(tdml::deps ALIAS tdml_deps)
target_link_libraries(tdml_deps INTERFACE
  ${TORCH_LIBRARIES} OpenSSL::Crypto CURL::libcurl ZLIB::ZLIB Threads::Threads
  spdlog::spdlog nlohmann_json::nlohmann_json)
target_include_directories(tdml_deps INTERFACE ${CXXOPTS_INCLUDE_DIR})
# c10d's Gloo backend headers are guarded; Debian's TorchConfig does not define these.
target_compile_definitions(tdml_deps INTERFACE USE_C10D_GLOO USE_DISTRIBUTED)

# CUDA-only code (NCCL, fp16 loss scaling) compiles only against a CUDA LibTorch.
set(TDML_HAS_CUDA OFF)
if(TDML_WITH_CUDA AND (TARGET torch_cuda OR TORCH_CUDA_LIBRARIES))
  set(TDML_HAS_CUDA ON)
  target_compile_definitions(tdml_deps INTERFACE TDML_HAS_CUDA=1 USE_C10D_NCCL)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ENV NCCL_ROOT PATH_SUFFIXES include)
  if(NCCL_INCLUDE_DIR)
    target_include_directories(tdml_deps INTERFACE ${NCCL_INCLUDE_DIR})
  endif()
endif()
message(STATUS "tdml: LibTorch ${Torch_VERSION}, CUDA paths: ${TDML_HAS_CUDA}")
