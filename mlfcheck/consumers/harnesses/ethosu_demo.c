/* The ethos-u demo's output struct from February 2022 on (81df151935; apache/tvm 513c2be0c3):
   src/demo_bare_metal.c names its member after the model's output tensor (the rest of the
   demo: ethosu_demo_main.c). */
#include <stdint.h>

/* at apache/tvm@513c2be0c3:apps/microtvm/ethosu/convert_image.py:35 */
#include <tvmgen_default.h>

struct tvmgen_default_outputs ethosu_demo_outputs(int8_t* output) {
  /* at apache/tvm@513c2be0c3:apps/microtvm/ethosu/src/demo_bare_metal.c:39 */
  struct tvmgen_default_outputs outputs = {
      /* at apache/tvm@513c2be0c3:apps/microtvm/ethosu/src/demo_bare_metal.c:40 */
      .MobilenetV2_Predictions_Reshape_11 = output,
  };
  return outputs;
}
