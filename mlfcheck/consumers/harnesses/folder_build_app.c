/* An extracted archive in a firmware tree (ValeraDanger/ESP32_microTVM_models_test 1e98b6b4a5,
   esp32s3_example_project), as mlfcheck builds it on the host: the component compiles
   model/codegen/host/src (SRC_DIRS, not recursive) with model/codegen/host/include and
   model/runtime/include on the include path (the TVM runtime headers of the era when the archive
   has none); app_main.c includes tvmgen_default.h, fills the interface structs (here with the
   archive's own member names, MLFCHECK_INPUTS and MLFCHECK_OUTPUTS, one buffer each) and calls
   tvmgen_default_run, written for the module its firmware exported: mlfcheck uses the
   archive's module <m> (tvmgen_<m>.h, tvmgen_<m>_run: MLFCHECK_HEADER, MLFCHECK_NAME), as a
   firmware written for that archive does. tvm_crt.c stands in for the C runtime the firmware links. In: in.bin. */
#include <stdint.h>

#include "mlfcheck_io.h"
/* at ValeraDanger/ESP32_microTVM_models_test@1e98b6b4a5:esp32s3_example_project/main/app_main.c:11 */
#include MLFCHECK_HEADER

MLFCHECK_NAMED_BUFFERS;

int main(int argc, char** argv) {
  if (argc != 3) return 3;
  mlfcheck_read(argv[1], mlfcheck_inputs[0], sizeof(mlfcheck_inputs[0]));
  /* at ValeraDanger/ESP32_microTVM_models_test@1e98b6b4a5:esp32s3_example_project/main/app_main.c:19 */
  struct MLFCHECK_NAME(inputs) inputs = {MLFCHECK_INPUTS};
  /* at ValeraDanger/ESP32_microTVM_models_test@1e98b6b4a5:esp32s3_example_project/main/app_main.c:22 */
  struct MLFCHECK_NAME(outputs) outputs = {MLFCHECK_OUTPUTS};
  /* at ValeraDanger/ESP32_microTVM_models_test@1e98b6b4a5:esp32s3_example_project/main/app_main.c:30 */
  int ret_val = MLFCHECK_NAME(run)(&inputs, &outputs);
  mlfcheck_write(argv[2], mlfcheck_outputs[0], 0);
  return ret_val;
}
