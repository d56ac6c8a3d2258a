/* The ethos-u demo's output struct in January 2022 (apache/tvm 3b20c21f9e): src/demo.c names
   its member 'output' (the rest of the demo: ethosu_demo_main.c). */
#include <stdint.h>

/* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/convert_image.py:35 */
#include <tvmgen_default.h>

struct tvmgen_default_outputs ethosu_demo_outputs(int8_t* output) {
  /* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/src/demo.c:42 */
  struct tvmgen_default_outputs outputs = {
      /* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/src/demo.c:43 */
      .output = output,
  };
  return outputs;
}
