/* The Zephyr aot_demo main.c until e0a825d636 (apache/tvm a7297870c0): compiled against the
   interface header the caller generated (generate_c_interface_header, with main.c's names),
   not the archive's; one buffer each, then tvmgen_default_run. */
#include <stdint.h>

/* The interface header the caller generates. */
struct tvmgen_default_inputs { void* input_1; };
struct tvmgen_default_outputs { void* output; };
int32_t tvmgen_default_run(struct tvmgen_default_inputs* inputs,
                           struct tvmgen_default_outputs* outputs);

int app_run(void* input_data, void* output_data) {
  /* at apache/tvm@a7297870c0:apps/microtvm/zephyr/template_project/src/aot_demo/main.c:197 */
  struct tvmgen_default_inputs inputs = {
      /* at apache/tvm@a7297870c0:apps/microtvm/zephyr/template_project/src/aot_demo/main.c:198 */
      .input_1 = input_data,
  };
  /* at apache/tvm@a7297870c0:apps/microtvm/zephyr/template_project/src/aot_demo/main.c:200 */
  struct tvmgen_default_outputs outputs = {
      /* at apache/tvm@a7297870c0:apps/microtvm/zephyr/template_project/src/aot_demo/main.c:201 */
      .output = output_data,
  };
  /* at apache/tvm@a7297870c0:apps/microtvm/zephyr/template_project/src/aot_demo/main.c:208 */
  int ret_val = tvmgen_default_run(&inputs, &outputs);
  return ret_val;
}
