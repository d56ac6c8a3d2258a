/* MLonMCU's tvmaot wrapper (tum-ei-eda/mlonmcu 037416eb16, mlonmcu/flow/tvm/backend/wrapper.py,
   generate_tvmaot_wrapper with api="c"), as mlfcheck builds it against an archive: it includes
   the module's interface header, fills the interface structs with one buffer per tensor under
   the model's tensor names (mlfcheck passes the archive's header members as MLFCHECK_INPUTS and
   MLFCHECK_OUTPUTS) and calls tvmgen_<m>_run, <m> the module MLonMCU exported (its prefix:
   modPrefix = f"tvmgen_{mod_name}"; MLFCHECK_NAME, MLFCHECK_HEADER). The stack allocator and
   platform calls of TVM's CRT the wrapper uses are replaced by tvm_crt.c. Input and output: in.bin, out.bin. */
#include <stdint.h>

#include "mlfcheck_io.h"
/* at tum-ei-eda/mlonmcu@037416eb16:mlonmcu/flow/tvm/backend/wrapper.py:387 */
/* at tum-ei-eda/mlonmcu@037416eb16:mlonmcu/flow/tvm/backend/wrapper.py:439 */
#include MLFCHECK_HEADER

MLFCHECK_NAMED_BUFFERS;

/* at tum-ei-eda/mlonmcu@037416eb16:mlonmcu/flow/tvm/backend/wrapper.py:403 */
struct MLFCHECK_NAME(inputs) MLFCHECK_NAME(inputs) = {MLFCHECK_INPUTS};
struct MLFCHECK_NAME(outputs) MLFCHECK_NAME(outputs) = {MLFCHECK_OUTPUTS};

int main(int argc, char** argv) {
  if (argc != 3) return 3;
  mlfcheck_read(argv[1], mlfcheck_inputs[0], sizeof(mlfcheck_inputs[0]));
  /* at tum-ei-eda/mlonmcu@037416eb16:mlonmcu/flow/tvm/backend/wrapper.py:576 */
  int ret_val = MLFCHECK_NAME(run)(&MLFCHECK_NAME(inputs), &MLFCHECK_NAME(outputs));
  mlfcheck_write(argv[2], mlfcheck_outputs[0], 0);
  return ret_val;
}
