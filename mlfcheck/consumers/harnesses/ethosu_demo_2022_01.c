/* The apps/microtvm/ethosu demo (apache/tvm 3b20c21f9e, January 2022, output named 'output'), as mlfcheck builds it for
   the Corstone-300's Cortex-M55 (mps3-an547): the Makefile compiles codegen/host/src/*.c and the
   archive's runtime/src/runtime/crt/memory/stack_allocator.c and common/crt_backend_api.c with
   runtime/include, runtime/src/runtime/crt/include and codegen/host/include; the demo includes
   the interface header (through convert_image.py's inputs.h) and the CRT's stack allocator
   (include/tvm_runtime.h) and the Ethos-U core driver (include/ethosu_mod.h), fills the
   interface structs with the demo model's tensor names, passes the NPU driver and calls
   tvmgen_default_run. mlfcheck cannot supply the Ethos-U driver: a build that gets as far as
   needing it stops there ("not built here"). UART output: mlfcheck's semihosting I/O. */
#include <stdint.h>

#include "mlfcheck_io.h"
/* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/convert_image.py:35 */
#include <tvmgen_default.h>
/* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/include/tvm_runtime.h:24 */
#include <tvm/runtime/crt/stack_allocator.h>
/* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/include/ethosu_mod.h:24 */
#include <ethosu_driver.h>

#ifndef MLFCHECK_IO_BYTES
#define MLFCHECK_IO_BYTES (16 * 1024)
#endif

static int8_t input[MLFCHECK_IO_BYTES] __attribute__((aligned(16)));
static int8_t output[MLFCHECK_IO_BYTES] __attribute__((aligned(16)));

int main(int argc, char** argv) {
  if (argc != 3) return 3;
  mlfcheck_read(argv[1], input, sizeof(input));
  /* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/src/demo.c:42 */
  struct tvmgen_default_outputs outputs = {
      /* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/src/demo.c:43 */
      .output = output,
  };
  /* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/src/demo.c:45 */
  struct tvmgen_default_inputs inputs = {
      /* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/src/demo.c:46 */
      .tfl_quantize = input,
  };
  /* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/src/demo.c:48 */
  struct ethosu_driver* driver = ethosu_reserve_driver();
  /* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/src/demo.c:49 */
  struct tvmgen_default_devices devices = {
      /* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/src/demo.c:50 */
      .ethos_u = driver,
  };
  /* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/src/demo.c:52 */
  int32_t ret_val = tvmgen_default_run(&inputs, &outputs, &devices);
  ethosu_release_driver(driver);
  mlfcheck_write(argv[2], output, 0);
  return ret_val;
}
