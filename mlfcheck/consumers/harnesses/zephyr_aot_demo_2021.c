/* The Zephyr template's aot_demo application (apache/tvm a7297870c0 up to e0a825d636~1), as
   mlfcheck builds it against an archive: main.c fills the two interface structs the caller
   generated (generate_c_interface_header, with the names main.c uses) and calls
   tvmgen_default_run; the C runtime is TVM's own (tvm_crt.c stands in for it). The input and
   output come from the test's generated input_data.h/output_data.h: here in.bin and out.bin. */
#include <stdint.h>

#include "mlfcheck_io.h"

#ifndef MLFCHECK_IO_BYTES
#define MLFCHECK_IO_BYTES (64 * 1024)
#endif

/* The interface header the caller generates (not the archive's): one buffer each. */
struct tvmgen_default_inputs { void* input_1; };
struct tvmgen_default_outputs { void* output; };
int32_t tvmgen_default_run(struct tvmgen_default_inputs* inputs,
                           struct tvmgen_default_outputs* outputs);

static uint8_t input_data[MLFCHECK_IO_BYTES] __attribute__((aligned(16)));
static uint8_t output_data[MLFCHECK_IO_BYTES] __attribute__((aligned(16)));

int main(int argc, char** argv) {
  struct tvmgen_default_inputs inputs = {.input_1 = input_data};
  struct tvmgen_default_outputs outputs = {.output = output_data};
  if (argc != 3) return 3;
  mlfcheck_read(argv[1], input_data, sizeof(input_data));
  /* at apache/tvm@a7297870c0:apps/microtvm/zephyr/template_project/src/aot_demo/main.c:208 */
  int ret_val = tvmgen_default_run(&inputs, &outputs);
  mlfcheck_write(argv[2], output_data, 0);
  return ret_val;
}
