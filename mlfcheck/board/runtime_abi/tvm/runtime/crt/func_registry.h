/* mlfcheck's declaration of the CRT function registry a system-lib module lists its
 * functions in. Written for mlfcheck from the ABI; see ../../../README.md. */
#ifndef MLFCHECK_TVM_CRT_FUNC_REGISTRY_H_
#define MLFCHECK_TVM_CRT_FUNC_REGISTRY_H_

#include <tvm/runtime/c_backend_api.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint16_t tvm_function_index_t;

/* `names`: a count byte, then that many NUL-terminated names; `funcs`: one per name. */
typedef struct TVMFuncRegistry {
  const char* names;
  const TVMBackendPackedCFunc* funcs;
} TVMFuncRegistry;

#ifdef __cplusplus
}
#endif
#endif /* MLFCHECK_TVM_CRT_FUNC_REGISTRY_H_ */
