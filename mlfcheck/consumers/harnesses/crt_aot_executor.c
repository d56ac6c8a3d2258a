/* mlfcheck's stand-in for TVM's 2021 AOT executor (src/runtime/crt/aot_executor/aot_executor.c,
   which the AOT test runner links): tvm_runtime_run wraps each buffer in a DLTensor and calls
   the model's run_func with them, and with num_args 0 as TVM's does. Written for mlfcheck from
   the ABI. */
#include <stdint.h>

#include "tvm/runtime/c_runtime_api.h"
#include "tvm/runtime/crt/internal/aot_executor/aot_executor.h"

#define MLFCHECK_MAX_ARGS 16

tvm_crt_error_t tvm_runtime_run(const tvm_model_t* model, void** inputs, void** outputs) {
  static int64_t no_shape[1];
  DLTensor tensors[MLFCHECK_MAX_ARGS];
  TVMValue values[MLFCHECK_MAX_ARGS];
  int type_codes[MLFCHECK_MAX_ARGS];
  size_t count = model->num_input_tensors + model->num_output_tensors;
  if (count > MLFCHECK_MAX_ARGS) return kTvmErrorPlatformCheckFailure;
  for (size_t i = 0; i < count; i++) {
    DLTensor t = {0};
    t.data = i < model->num_input_tensors ? inputs[i] : outputs[i - model->num_input_tensors];
    t.device.device_type = kDLCPU;
    t.shape = no_shape;
    tensors[i] = t;
    values[i].v_handle = &tensors[i];
    type_codes[i] = kTVMNDArrayHandle;
  }
  return (tvm_crt_error_t)model->run_func(values, type_codes, 0, NULL, 0, NULL);
}
