/* mlfcheck's own caller of an archive's entry point, for counting what one inference executes
   on a board (size --run, diff --board): in.bin into the first input (the rest keep a 0xA5
   pattern), the interface structs filled with the archive's own member names (MLFCHECK_INPUTS,
   MLFCHECK_OUTPUTS), one call of tvmgen_<module>_run, the first output written to out.bin.
   No consumer's code: it calls the archive the way docs/mlf-v8.md documents. */
#include <stdint.h>

#include "mlfcheck_io.h"
#include MLFCHECK_HEADER

MLFCHECK_NAMED_BUFFERS;

int main(int argc, char** argv) {
  int i;
  if (argc != 3) return 3;
  for (i = 1; i < MLFCHECK_TENSORS; ++i) {
    memset(mlfcheck_inputs[i], 0xA5, sizeof(mlfcheck_inputs[i]));
  }
  mlfcheck_read(argv[1], mlfcheck_inputs[0], sizeof(mlfcheck_inputs[0]));
  struct MLFCHECK_NAME(inputs) inputs = {MLFCHECK_INPUTS};
  struct MLFCHECK_NAME(outputs) outputs = {MLFCHECK_OUTPUTS};
  if (MLFCHECK_NAME(run)(&inputs, &outputs) != 0) return 1;
  mlfcheck_write(argv[2], mlfcheck_outputs[0], 16);
  return 0;
}
