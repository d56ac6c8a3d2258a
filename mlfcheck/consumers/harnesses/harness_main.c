/* main() of the applications that run the model once on one input and one output buffer; the
   file listed before this one defines app_run with the consumer's own calls, each of its era:
   - the Arduino template's example project (arduino_2021.c, arduino_2022.c, arduino_v7.c): the
     project generator copies codegen/host/src/*.c into the sketch (no header), the standalone
     CRT's include folder is the only TVM include path, and model.c's TVMExecute calls the AOT
     entry with the sketch's two buffers;
   - the Zephyr template's AOT demo (zephyr_aot_demo_2021.c, zephyr_aot_demo_2023.c): the CMake
     template compiles codegen/host/src/*.c, and main.c fills the interface structs and calls
     tvmgen_default_run, against the header the caller generated or, since e0a825d636, the
     archive's.
   The C runtime is TVM's own (tvm_crt.c stands in for it). The consumer's input (the sketch's,
   or the test's generated input_data.h) is in.bin here, its output out.bin. */
#include <stdint.h>

#include "mlfcheck_io.h"

#ifndef MLFCHECK_IO_BYTES
#define MLFCHECK_IO_BYTES (64 * 1024)
#endif

/* The consumer's calls on the two buffers; what it returns is the exit code. */
int app_run(void* input_data, void* output_data);

static uint8_t input_data[MLFCHECK_IO_BYTES] __attribute__((aligned(16)));
static uint8_t output_data[MLFCHECK_IO_BYTES] __attribute__((aligned(16)));

int main(int argc, char** argv) {
  if (argc != 3) return 3;
  mlfcheck_read(argv[1], input_data, sizeof(input_data));
  int ret_val = app_run(input_data, output_data);
  mlfcheck_write(argv[2], output_data, 0);
  return ret_val;
}
