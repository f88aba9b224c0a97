# Included from tests/CMakeLists.txt: the onnxruntime cross-check of the ONNX exporter
# (tests/onnx/check_with_onnxruntime.py): the backbones through apps/onnx_export, and every
# exportable op through op_zoo_dump. Skipped (exit 77) only when the venv cannot be made.
set(_ff_zoo_src ${CMAKE_CURRENT_LIST_DIR}/op_zoo_dump.cpp)
if(TARGET onnx_export AND TARGET faceflow_onnx AND _ff_zoo_src MATCHES "${FF_TEST_SOURCES_REGEX}")
  add_executable(onnx_op_zoo_dump ${_ff_zoo_src} ${PROJECT_SOURCE_DIR}/apps/onnx_export/npy.cpp)
  target_link_libraries(onnx_op_zoo_dump PRIVATE faceflow_onnx ff_warnings)
  target_include_directories(onnx_op_zoo_dump PRIVATE ${PROJECT_SOURCE_DIR})
  add_test(NAME onnx_onnxruntime_check
           COMMAND ${CMAKE_CURRENT_LIST_DIR}/run_onnxruntime_check.sh $<TARGET_FILE:onnx_export>
                   $<TARGET_FILE:onnx_op_zoo_dump> ${CMAKE_BINARY_DIR}/onnx_check)
  set_tests_properties(onnx_onnxruntime_check PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900
                       LABELS "onnx" ENVIRONMENT "OMP_NUM_THREADS=2")
endif()
