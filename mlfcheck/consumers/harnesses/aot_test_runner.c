/* TVM's AOT test runner (apache/tvm tests/python/relay/aot/aot_test_utils.py and aot_test.mk),
   as mlfcheck builds it on the host against an archive. The runner writes test.c for the model
   the same test exported (mangle_name(mod_name, ...)), so mlfcheck takes the runner of the
   archive's era for the archive's module <m> (MLFCHECK_NAME, MLFCHECK_HEADER): with the C
   interface header (3f881ab15f, before the old AOT executor went) it includes tvmgen_<m>.h,
   fills the interface structs (the archive's member names, MLFCHECK_INPUTS and
   MLFCHECK_OUTPUTS) and calls tvmgen_<m>_run; without one (36fc525620) it declares the model
   descriptor tvmgen_<m>_network and calls tvm_runtime_run (TVM's
   aot_executor.c: crt_aot_executor.c stands in for it). aot_test.mk compiles
   codegen/host/src/*.c with TVM's own CRT headers; tvm_crt.c stands in for the stack allocator
   and crt_backend_api.c. The test's input_data headers: in.bin; output_data: out.bin. */
#include <stdint.h>

#include "mlfcheck_io.h"

#ifndef MLFCHECK_IO_BYTES
#define MLFCHECK_IO_BYTES (64 * 1024)
#endif

static uint8_t mlfcheck_inputs[MLFCHECK_TENSORS][MLFCHECK_IO_BYTES] __attribute__((aligned(16)));
static uint8_t mlfcheck_outputs[MLFCHECK_TENSORS][MLFCHECK_IO_BYTES] __attribute__((aligned(16)));

#if __has_include(MLFCHECK_HEADER)
/* at apache/tvm@3f881ab15f:tests/python/relay/aot/aot_test_utils.py:328 */
#include MLFCHECK_HEADER

static int32_t run(void) {
  /* at apache/tvm@3f881ab15f:tests/python/relay/aot/aot_test_utils.py:201 */
  struct MLFCHECK_NAME(inputs) MLFCHECK_NAME(inputs) = {MLFCHECK_INPUTS};
  struct MLFCHECK_NAME(outputs) MLFCHECK_NAME(outputs) = {MLFCHECK_OUTPUTS};
  /* at apache/tvm@3f881ab15f:tests/python/relay/aot/aot_test_utils.py:236 */
  return MLFCHECK_NAME(run)(&MLFCHECK_NAME(inputs), &MLFCHECK_NAME(outputs));
}
#else
/* at apache/tvm@36fc525620:tests/python/relay/aot/aot_test_utils.py:150 */
#include "tvm/runtime/crt/internal/aot_executor/aot_executor.h"

/* at apache/tvm@36fc525620:tests/python/relay/aot/aot_test_utils.py:66 */
extern tvm_model_t MLFCHECK_NAME(network);

static int32_t run(void) {
  void* inputs[MLFCHECK_TENSORS];
  void* outputs[MLFCHECK_TENSORS];
  for (int i = 0; i < MLFCHECK_TENSORS; i++) {
    inputs[i] = mlfcheck_inputs[i];
    outputs[i] = mlfcheck_outputs[i];
  }
  /* at apache/tvm@36fc525620:tests/python/relay/aot/aot_test_utils.py:118 */
  return tvm_runtime_run(&MLFCHECK_NAME(network), inputs, outputs);
}
#endif

int main(int argc, char** argv) {
  if (argc != 3) return 3;
  mlfcheck_read(argv[1], mlfcheck_inputs[0], sizeof(mlfcheck_inputs[0]));
  int32_t ret_val = run();
  mlfcheck_write(argv[2], mlfcheck_outputs[0], 0);
  return ret_val;
}
