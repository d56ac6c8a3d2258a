/* mlfcheck's own caller of an archive's entry point, for counting what one inference executes
   on a board (size --run, diff --board): in.bin into the first input (the rest keep a 0xA5
   pattern), the interface structs filled with the archive's own member names (MLFCHECK_INPUTS,
   MLFCHECK_OUTPUTS), one call of tvmgen_<module>_run, the first output written to out.bin.
   No consumer's code: it calls the archive the way docs/mlf-v8.md documents. */
#include <stdint.h>

#include "mlfcheck_io.h"
#include MLFCHECK_HEADER

#ifndef MLFCHECK_IO_BYTES
#define MLFCHECK_IO_BYTES (64 * 1024)
#endif

static uint8_t mlfcheck_inputs[MLFCHECK_TENSORS][MLFCHECK_IO_BYTES] __attribute__((aligned(16)));
static uint8_t mlfcheck_outputs[MLFCHECK_TENSORS][MLFCHECK_IO_BYTES] __attribute__((aligned(16)));

int main(int argc, char** argv) {
  int i;
  if (argc != 3) return 3;
  for (i = 1; i < MLFCHECK_TENSORS; ++i) memset(mlfcheck_inputs[i], 0xA5, MLFCHECK_IO_BYTES);
  mlfcheck_read(argv[1], mlfcheck_inputs[0], sizeof(mlfcheck_inputs[0]));
  struct MLFCHECK_NAME(inputs) inputs = {MLFCHECK_INPUTS};
  struct MLFCHECK_NAME(outputs) outputs = {MLFCHECK_OUTPUTS};
  if (MLFCHECK_NAME(run)(&inputs, &outputs) != 0) return 1;
  mlfcheck_write(argv[2], mlfcheck_outputs[0], 16);
  return 0;
}
