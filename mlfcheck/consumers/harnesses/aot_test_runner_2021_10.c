/* TVM's AOT test runner of apache/tvm dae71db771 (October 2021 to June 2022), whose test sizes
   the arena with mlf_extract_workspace_size_bytes for both interfaces: for the C interface
   test.c includes the interface header of the module it exported, fills the structs (the
   model's tensor names: the archive's header members, MLFCHECK_INPUTS and MLFCHECK_OUTPUTS)
   and calls tvmgen_<m>_run(&inputs, &outputs); for the packed one (no interface header) it
   calls tvmgen_<m>_run(values, typeids, 0, NULL, 0, NULL). main(): aot_test_main.c. */
#include <stdint.h>

#include "mlfcheck_io.h"
#include "tvm/runtime/c_runtime_api.h"

extern void* mlfcheck_inputs[];
extern void* mlfcheck_outputs[];
extern TVMValue aot_test_values[];
extern int32_t aot_test_typeids[];

#if !__has_include(MLFCHECK_HEADER)
/* test.c calls it undeclared: the packed signature. */
int32_t MLFCHECK_NAME(run)(TVMValue* args, int32_t* type_codes, int32_t num_args,
                           TVMValue* out_value, int32_t* out_type_code, void* resource_handle);

int32_t aot_test_run(void) {
  /* at apache/tvm@dae71db771:tests/python/relay/aot/aot_test_utils.py:413 */
  return MLFCHECK_NAME(run)(aot_test_values, aot_test_typeids, 0, NULL, 0, NULL);
}
#else
/* at apache/tvm@dae71db771:tests/python/relay/aot/aot_test_utils.py:467 */
#include MLFCHECK_HEADER

int32_t aot_test_run(void) {
  /* at apache/tvm@dae71db771:tests/python/relay/aot/aot_test_utils.py:325 */
  struct MLFCHECK_NAME(inputs) MLFCHECK_NAME(inputs) = {MLFCHECK_INPUTS};
  struct MLFCHECK_NAME(outputs) MLFCHECK_NAME(outputs) = {MLFCHECK_OUTPUTS};
  /* at apache/tvm@dae71db771:tests/python/relay/aot/aot_test_utils.py:364 */
  return MLFCHECK_NAME(run)(&MLFCHECK_NAME(inputs), &MLFCHECK_NAME(outputs));
}
#endif
