/* The Arduino template's example project February to June 2022 (apache/tvm d8f639a84f), as mlfcheck
   builds it against an archive: the project generator copies codegen/host/src/*.c into the
   sketch (no header), the standalone CRT's include folder is the only TVM include path (tvm_crt.c
   stands in for the CRT), and model.c calls tvmgen_default___tvm_main__ with two buffers.
   Input and output: in.bin and out.bin. */
#include <stdint.h>

#include "mlfcheck_io.h"

#ifndef MLFCHECK_IO_BYTES
#define MLFCHECK_IO_BYTES (64 * 1024)
#endif

/* The sketch's call (two buffers), declared as model.c sees it: no archive header. */
int32_t tvmgen_default___tvm_main__(void* input, void* output);

static uint8_t input_data[MLFCHECK_IO_BYTES] __attribute__((aligned(16)));
static uint8_t output_data[MLFCHECK_IO_BYTES] __attribute__((aligned(16)));

int main(int argc, char** argv) {
  if (argc != 3) return 3;
  mlfcheck_read(argv[1], input_data, sizeof(input_data));
  /* at apache/tvm@d8f639a84f:apps/microtvm/arduino/template_project/src/example_project/model.c:89 */
  int ret_val = tvmgen_default___tvm_main__(input_data, output_data);
  mlfcheck_write(argv[2], output_data, 0);
  return ret_val;
}
