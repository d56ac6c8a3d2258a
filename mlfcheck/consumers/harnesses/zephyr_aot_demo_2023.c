/* The Zephyr template's aot_standalone_demo application (apache/tvm 513c2be0c3, since
   e0a825d636): main.c compiles against the archive's tvmgen_default.h, fills the interface
   structs with its test model's tensor names and calls tvmgen_default_run; the C runtime is
   TVM's own (tvm_crt.c stands in for it). Input and output: in.bin and out.bin. */
#include <stdint.h>

#include "mlfcheck_io.h"
/* at apache/tvm@513c2be0c3:apps/microtvm/zephyr/template_project/src/aot_standalone_demo/main.c:34 */
#include "tvmgen_default.h"

#ifndef MLFCHECK_IO_BYTES
#define MLFCHECK_IO_BYTES (64 * 1024)
#endif

static uint8_t input_data[MLFCHECK_IO_BYTES] __attribute__((aligned(16)));
static uint8_t output_data[MLFCHECK_IO_BYTES] __attribute__((aligned(16)));

int main(int argc, char** argv) {
  if (argc != 3) return 3;
  mlfcheck_read(argv[1], input_data, sizeof(input_data));
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
  mlfcheck_write(argv[2], output_data, 0);
  return ret_val;
}
