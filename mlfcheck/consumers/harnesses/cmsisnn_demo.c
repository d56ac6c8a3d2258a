/* The apps/microtvm/cmsisnn person-detection demo (apache/tvm 2025e368c4), as mlfcheck builds it
   for the Corstone-300's Cortex-M55 (mps3-an547): the Makefile compiles codegen/host/src/*.c and
   the archive's runtime/src/runtime/crt/memory/stack_allocator.c and common/crt_backend_api.c
   with runtime/include, runtime/src/runtime/crt/include and codegen/host/include (and CMSIS-NN's
   headers, which mlfcheck cannot supply: generated C that includes them stops there, "not built
   here"); demo_bare_metal.c includes tvmgen_detection.h and include/tvm_runtime.h (the platform
   calls below), fills the interface structs with the demo model's tensor names and calls
   tvmgen_detection_run. UART output: mlfcheck's semihosting I/O. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mlfcheck_io.h"
/* at apache/tvm@2025e368c4:apps/microtvm/cmsisnn/include/tvm_runtime.h:24 */
#include <tvm/runtime/crt/stack_allocator.h>
/* at apache/tvm@2025e368c4:apps/microtvm/cmsisnn/src/demo_bare_metal.c:22 */
#include <tvmgen_detection.h>

#ifndef MLFCHECK_IO_BYTES
#define MLFCHECK_IO_BYTES (16 * 1024)
#endif

static int8_t input[MLFCHECK_IO_BYTES] __attribute__((aligned(16)));
static int8_t output[MLFCHECK_IO_BYTES] __attribute__((aligned(16)));

/* at apache/tvm@2025e368c4:apps/microtvm/cmsisnn/include/tvm_runtime.h:30 */
void __attribute__((noreturn)) TVMPlatformAbort(tvm_crt_error_t error_code) {
  (void)error_code;
  exit(-1);
}

/* at apache/tvm@2025e368c4:apps/microtvm/cmsisnn/include/tvm_runtime.h:36 */
tvm_crt_error_t TVMPlatformMemoryAllocate(size_t num_bytes, DLDevice dev, void** out_ptr) {
  (void)num_bytes; (void)dev; (void)out_ptr;
  return kTvmErrorFunctionCallNotImplemented;
}

/* at apache/tvm@2025e368c4:apps/microtvm/cmsisnn/include/tvm_runtime.h:40 */
tvm_crt_error_t TVMPlatformMemoryFree(void* ptr, DLDevice dev) {
  (void)ptr; (void)dev;
  return kTvmErrorFunctionCallNotImplemented;
}

/* at apache/tvm@2025e368c4:apps/microtvm/cmsisnn/include/tvm_runtime.h:44 */
void TVMLogf(const char* msg, ...) {
  va_list args;
  va_start(args, msg);
  vfprintf(stdout, msg, args);
  va_end(args);
}

/* at apache/tvm@2025e368c4:apps/microtvm/cmsisnn/include/tvm_runtime.h:51 */
TVM_DLL int TVMFuncRegisterGlobal(const char* name, TVMFunctionHandle f, int override) {
  (void)name; (void)f; (void)override;
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 3) return 3;
  mlfcheck_read(argv[1], input, sizeof(input));
  /* at apache/tvm@2025e368c4:apps/microtvm/cmsisnn/src/demo_bare_metal.c:35 */
  struct tvmgen_detection_outputs detection_outputs = {
      /* at apache/tvm@2025e368c4:apps/microtvm/cmsisnn/src/demo_bare_metal.c:36 */
      .MobilenetV1_Predictions_Reshape_1 = output,
  };
  /* at apache/tvm@2025e368c4:apps/microtvm/cmsisnn/src/demo_bare_metal.c:38 */
  struct tvmgen_detection_inputs detection_inputs = {
      /* at apache/tvm@2025e368c4:apps/microtvm/cmsisnn/src/demo_bare_metal.c:39 */
      .input = input,
  };
  /* at apache/tvm@2025e368c4:apps/microtvm/cmsisnn/src/demo_bare_metal.c:42 */
  int32_t ret_val = tvmgen_detection_run(&detection_inputs, &detection_outputs);
  mlfcheck_write(argv[2], output, 0);
  return ret_val;
}
