# Finds every dependency and exposes them as one interface target, tdml::deps.
#
# Two LibTorch builds are supported with the same sources (see README "Building for GPU"):
# Debian's libtorch-dev 1.13 (CPU, system fmt/spdlog/gloo) and the LibTorch inside a PyTorch 2.x
# CUDA wheel (its own fmt headers, no gloo headers, NCCL from the nvidia-nccl wheel).
find_package(Torch REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(CURL REQUIRED)
find_package(ZLIB REQUIRED)
find_package(Threads REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_path(CXXOPTS_INCLUDE_DIR cxxopts.hpp REQUIRED)
# The federation's transport: gRPC + protobuf (Debian: libgrpc++-dev, protobuf-compiler-grpc).
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_program(TDML_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# tdml_add_grpc(TARGET PROTO): generates PROTO's message and service code into the build tree
# and compiles it into TARGET (no PCH, no unity batch: generated code stays as protoc wrote it).
function(tdml_add_grpc target proto)
  get_filename_component(name ${proto} NAME_WE)
  get_filename_component(dir ${proto} DIRECTORY)
  set(out ${CMAKE_BINARY_DIR}/generated)
  set(srcs ${out}/${name}.pb.cc ${out}/${name}.grpc.pb.cc)
  add_custom_command(
    OUTPUT ${srcs} ${out}/${name}.pb.h ${out}/${name}.grpc.pb.h
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out}
    COMMAND protobuf::protoc --proto_path=${dir} --cpp_out=${out} --grpc_out=${out}
            --plugin=protoc-gen-grpc=${TDML_GRPC_CPP_PLUGIN} ${proto}
    DEPENDS ${proto}
    COMMENT "protoc: ${name}.proto")
  target_sources(${target} PRIVATE ${srcs})
  set_source_files_properties(${srcs} PROPERTIES SKIP_PRECOMPILE_HEADERS ON
                              SKIP_UNITY_BUILD_INCLUSION ON COMPILE_OPTIONS "-w")
  target_include_directories(${target} PRIVATE ${out})
  target_link_libraries(${target} PRIVATE gRPC::grpc++ protobuf::libprotobuf)
endfunction()

add_library(tdml_deps INTERFACE)
add_library(tdml::deps ALIAS tdml_deps)
# spdlog (and the fmt it was built for) come before LibTorch: a PyTorch wheel ships its own,
# newer fmt under include/fmt, and every translation unit must see the one fmt spdlog expects.
# A target's own interface include directories precede those of what it links, so fmt's
# directory is also added here explicitly (a no-op for system directories such as /usr/include).
if(TARGET fmt::fmt)
  get_target_property(TDML_FMT_INCLUDE_DIRS fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
  if(TDML_FMT_INCLUDE_DIRS)
    target_include_directories(tdml_deps SYSTEM BEFORE INTERFACE ${TDML_FMT_INCLUDE_DIRS})
  endif()
endif()
# PyTorch wheels from 2.5 on export libstdc++ symbols they link statically, std::filesystem's
# among them (pytorch/pytorch#133437). Listed first, libtorch_cpu then supplies those symbols to
# tdml too, and std::filesystem calls crashed (seen with 2.11: every test using a temp dir).
# Naming libstdc++ before everything else makes the dynamic linker find the real one first, as
# it does in Python (which loads libstdc++ before torch): the library list starts with it.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND Torch_VERSION VERSION_GREATER_EQUAL 2.5)
  target_link_libraries(tdml_deps INTERFACE stdc++)
endif()
target_link_libraries(tdml_deps INTERFACE
  spdlog::spdlog nlohmann_json::nlohmann_json
  ${TORCH_LIBRARIES} OpenSSL::Crypto CURL::libcurl ZLIB::ZLIB Threads::Threads)
target_include_directories(tdml_deps INTERFACE ${CXXOPTS_INCLUDE_DIR})
target_compile_definitions(tdml_deps INTERFACE USE_DISTRIBUTED)

# c10d's Gloo backend: its header is guarded by USE_C10D_GLOO (Debian's TorchConfig does not
# define it; a 2.x wheel's does) and needs gloo's headers, which Debian has (libgloo-dev) but
# PyTorch wheels lack. tdml's code tests TDML_HAS_GLOO, set only when the headers are found;
# without them tdml builds without Gloo and `--backend gloo` fails with a clear message.
option(TDML_WITH_GLOO "Use c10d's Gloo backend when gloo's headers are found" ON)
set(TDML_HAS_GLOO OFF)
if(TDML_WITH_GLOO)
  find_path(TDML_GLOO_INCLUDE_DIR gloo/config.h HINTS ${TORCH_INCLUDE_DIRS})
  if(TDML_GLOO_INCLUDE_DIR)
    set(TDML_HAS_GLOO ON)
    target_compile_definitions(tdml_deps INTERFACE USE_C10D_GLOO TDML_HAS_GLOO=1)
    target_include_directories(tdml_deps SYSTEM INTERFACE ${TDML_GLOO_INCLUDE_DIR})
  endif()
endif()

# CUDA-only code (fp16 loss scaling, device queries) compiles only against a CUDA LibTorch;
# c10d's NCCL backend additionally needs nccl.h (a PyTorch wheel's comes from nvidia-nccl).
set(TDML_HAS_CUDA OFF)
set(TDML_HAS_NCCL OFF)
if(TDML_WITH_CUDA AND (TARGET torch_cuda OR TORCH_CUDA_LIBRARIES))
  set(TDML_HAS_CUDA ON)
  target_compile_definitions(tdml_deps INTERFACE TDML_HAS_CUDA=1)
  find_path(NCCL_INCLUDE_DIR nccl.h
    HINTS ENV NCCL_ROOT ENV NCCL_HOME "${TORCH_INSTALL_PREFIX}/../nvidia/nccl"
          "${TORCH_INSTALL_PREFIX}/../nvidia/cu13" "${TORCH_INSTALL_PREFIX}/../nvidia/cu12"
    PATH_SUFFIXES include)
  if(NCCL_INCLUDE_DIR)
    set(TDML_HAS_NCCL ON)
    target_compile_definitions(tdml_deps INTERFACE USE_C10D_NCCL TDML_HAS_NCCL=1)
    target_include_directories(tdml_deps SYSTEM INTERFACE ${NCCL_INCLUDE_DIR})
  endif()
endif()
message(STATUS "tdml: LibTorch ${Torch_VERSION}, CUDA: ${TDML_HAS_CUDA}, "
               "NCCL: ${TDML_HAS_NCCL} (${NCCL_INCLUDE_DIR}), Gloo: ${TDML_HAS_GLOO}, "
               "spdlog ${spdlog_VERSION}, fmt ${fmt_VERSION}")
