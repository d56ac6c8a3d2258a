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
   and crt_backend_api.c. main() and the test's buffers: aot_test_main.c. */
#include <stdint.h>

#include "mlfcheck_io.h"

extern void* mlfcheck_inputs[];
extern void* mlfcheck_outputs[];

#if __has_include(MLFCHECK_HEADER)
/* at apache/tvm@3f881ab15f:tests/python/relay/aot/aot_test_utils.py:328 */
#include MLFCHECK_HEADER

int32_t aot_test_run(void) {
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

int32_t aot_test_run(void) {
  /* at apache/tvm@36fc525620:tests/python/relay/aot/aot_test_utils.py:118 */
  return tvm_runtime_run(&MLFCHECK_NAME(network), mlfcheck_inputs, mlfcheck_outputs);
}
#endif
