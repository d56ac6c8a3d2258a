/* mlfcheck's declaration of the 2021 AOT executor's model descriptor (MLF v2-v5 AOT
 * archives define a tvm_model_t). Written for mlfcheck from the ABI; see ../../../../../README.md. */
#ifndef MLFCHECK_TVM_CRT_AOT_EXECUTOR_H_
#define MLFCHECK_TVM_CRT_AOT_EXECUTOR_H_

#include <stdint.h>
#include <tvm/runtime/c_backend_api.h>
#include <tvm/runtime/crt/error_codes.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  size_t num_input_tensors;
  size_t num_output_tensors;
  TVMBackendPackedCFunc run_func;
} tvm_model_t;

tvm_crt_error_t tvm_runtime_run(const tvm_model_t* model, void** inputs, void** outputs);

#ifdef __cplusplus
}
#endif
#endif /* MLFCHECK_TVM_CRT_AOT_EXECUTOR_H_ */
