/* The Zephyr aot_standalone_demo main.c since e0a825d636 (apache/tvm 513c2be0c3): Infer()
   compiles against the archive's tvmgen_default.h, fills the interface structs with its test
   model's tensor names and calls tvmgen_default_run. */
#include <stdint.h>

/* at apache/tvm@513c2be0c3:apps/microtvm/zephyr/template_project/src/aot_standalone_demo/main.c:34 */
#include "tvmgen_default.h"

/* at apache/tvm@513c2be0c3:apps/microtvm/zephyr/template_project/src/aot_standalone_demo/main.c:128 */
int app_run(void* input_data, void* output_data) {
  /* at apache/tvm@513c2be0c3:apps/microtvm/zephyr/template_project/src/aot_standalone_demo/main.c:129 */
  struct tvmgen_default_inputs inputs = {
      /* at apache/tvm@513c2be0c3:apps/microtvm/zephyr/template_project/src/aot_standalone_demo/main.c:130 */
      .input_1 = input_data,
  };
  /* at apache/tvm@513c2be0c3:apps/microtvm/zephyr/template_project/src/aot_standalone_demo/main.c:132 */
  struct tvmgen_default_outputs outputs = {
      /* at apache/tvm@513c2be0c3:apps/microtvm/zephyr/template_project/src/aot_standalone_demo/main.c:133 */
      .Identity = output_data,
  };
  /* at apache/tvm@513c2be0c3:apps/microtvm/zephyr/template_project/src/aot_standalone_demo/main.c:138 */
  int ret_val = tvmgen_default_run(&inputs, &outputs);
  return ret_val;
}
