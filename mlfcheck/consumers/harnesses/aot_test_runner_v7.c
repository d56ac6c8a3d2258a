/* TVM's AOT test runner of apache/tvm 648154d808 (python/tvm/testing/aot.py, MLF v7), which
   calls mlf_extract_workspace_size_bytes only for the packed interface (for the C interface the
   header's TVMGEN_<M>_WORKSPACE_SIZE sizes the arena): test.c includes no interface header and
   calls tvmgen_<m>_run(values, typeids, 0, NULL, 0, NULL). main(): aot_test_main.c. */
#include <stdint.h>

#include "mlfcheck_io.h"
#include "tvm/runtime/c_runtime_api.h"

extern TVMValue aot_test_values[];
extern int32_t aot_test_typeids[];

/* test.c calls it undeclared: the packed signature. */
int32_t MLFCHECK_NAME(run)(TVMValue* args, int32_t* type_codes, int32_t num_args,
                           TVMValue* out_value, int32_t* out_type_code, void* resource_handle);

int32_t aot_test_run(void) {
  /* at apache/tvm@648154d808:python/tvm/testing/aot.py:726 */
  /* at apache/tvm@648154d808:python/tvm/testing/aot.py:399 */
  return MLFCHECK_NAME(run)(aot_test_values, aot_test_typeids, 0, NULL, 0, NULL);
}
