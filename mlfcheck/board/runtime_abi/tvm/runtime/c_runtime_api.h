/* mlfcheck's declaration of the TVM C runtime API that generated C uses: the export macro,
 * the packed-call value and type codes, handles, and the calls generated code may make.
 * Written for mlfcheck from the ABI; see ../../README.md. */
#ifndef MLFCHECK_TVM_C_RUNTIME_API_H_
#define MLFCHECK_TVM_C_RUNTIME_API_H_

#include <stddef.h>
#include <stdint.h>
#include <dlpack/dlpack.h>

#ifndef TVM_DLL
#if defined(_WIN32)
#ifdef TVM_EXPORTS
#define TVM_DLL __declspec(dllexport)
#else
#define TVM_DLL __declspec(dllimport)
#endif
#else
#define TVM_DLL __attribute__((visibility("default")))
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef int64_t tvm_index_t;

/* Type codes of packed-call arguments (the first ones equal DLPack's type codes). */
typedef enum {
  kTVMArgInt = kDLInt,
  kTVMArgFloat = kDLFloat,
  kTVMOpaqueHandle = 3U,
  kTVMNullptr = 4U,
  kTVMDataType = 5U,
  kTVMDLTensorHandle = 7U,
  kTVMObjectHandle = 8U,
  kTVMModuleHandle = 9U,
  kTVMPackedFuncHandle = 10U,
  kTVMStr = 11U,
  kTVMBytes = 12U,
  kTVMNDArrayHandle = 13U,
} TVMArgTypeCode;

typedef DLTensor* TVMArrayHandle;
typedef void* TVMModuleHandle;
typedef void* TVMFunctionHandle;
typedef void* TVMRetValueHandle;
typedef void* TVMStreamHandle;
typedef void* TVMObjectHandle;

/* One packed-call argument or return value (8 bytes on every target TVM supports). */
typedef union {
  int64_t v_int64;
  double v_float64;
  void* v_handle;
  const char* v_str;
  DLDataType v_type;
  DLDevice v_device;
} TVMValue;

typedef struct {
  const char* data;
  size_t size;
} TVMByteArray;

TVM_DLL void TVMAPISetLastError(const char* msg);
TVM_DLL const char* TVMGetLastError(void);
TVM_DLL int TVMFuncCall(TVMFunctionHandle func, TVMValue* arg_values, int* type_codes,
                        int num_args, TVMValue* ret_val, int* ret_type_code);

#ifdef __cplusplus
}
#endif
#endif /* MLFCHECK_TVM_C_RUNTIME_API_H_ */
