/* mlfcheck's declaration of the CRT module container a system-lib archive defines.
 * Written for mlfcheck from the ABI; see ../../../README.md. */
#ifndef MLFCHECK_TVM_CRT_MODULE_H_
#define MLFCHECK_TVM_CRT_MODULE_H_

#include <tvm/runtime/c_backend_api.h>
#include <tvm/runtime/crt/func_registry.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct TVMModule {
  const TVMFuncRegistry* registry;
} TVMModule;

int TVMModCreateFromCModule(const TVMModule* mod, TVMModuleHandle* out_handle);

const TVMModule* TVMSystemLibEntryPoint(void);

#ifdef __cplusplus
}
#endif
#endif /* MLFCHECK_TVM_CRT_MODULE_H_ */
