/* The apps/microtvm/ethosu demo (apache/tvm: 3b20c21f9e, January 2022, src/demo.c; 513c2be0c3,
   src/demo_bare_metal.c), as mlfcheck builds it for the Corstone-300's Cortex-M55
   (mps3-an547): the Makefile compiles codegen/host/src/*.c and the archive's
   runtime/src/runtime/crt/memory/stack_allocator.c and common/crt_backend_api.c with
   runtime/include, runtime/src/runtime/crt/include and codegen/host/include; the demo includes
   the interface header (through convert_image.py's inputs.h) and the CRT's stack allocator
   (include/tvm_runtime.h) and the Ethos-U core driver (include/ethosu_mod.h), fills the
   interface structs with the demo model's tensor names, passes the NPU driver and calls
   tvmgen_default_run. Each line both eras write cites both; the output struct, whose member
   they name differently, is the era's file (ethosu_demo_2022_01.c, ethosu_demo.c). mlfcheck
   cannot supply the Ethos-U driver: a build that gets as far as needing it stops there ("not
   built here"). UART output: mlfcheck's semihosting I/O. */
#include <stdint.h>

#include "mlfcheck_io.h"
/* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/convert_image.py:35 */
/* at apache/tvm@513c2be0c3:apps/microtvm/ethosu/convert_image.py:35 */
#include <tvmgen_default.h>
/* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/include/tvm_runtime.h:24 */
/* at apache/tvm@513c2be0c3:apps/microtvm/ethosu/include/tvm_runtime.h:24 */
#include <tvm/runtime/crt/stack_allocator.h>
/* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/include/ethosu_mod.h:24 */
/* at apache/tvm@513c2be0c3:apps/microtvm/ethosu/include/ethosu_mod.h:24 */
#include <ethosu_driver.h>

#ifndef MLFCHECK_IO_BYTES
#define MLFCHECK_IO_BYTES (16 * 1024)
#endif

static int8_t input[MLFCHECK_IO_BYTES] __attribute__((aligned(16)));
static int8_t output[MLFCHECK_IO_BYTES] __attribute__((aligned(16)));

/* The era's struct tvmgen_default_outputs, filled with `output`. */
struct tvmgen_default_outputs ethosu_demo_outputs(int8_t* output);

int main(int argc, char** argv) {
  if (argc != 3) return 3;
  mlfcheck_read(argv[1], input, sizeof(input));
  struct tvmgen_default_outputs outputs = ethosu_demo_outputs(output);
  /* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/src/demo.c:45 */
  /* at apache/tvm@513c2be0c3:apps/microtvm/ethosu/src/demo_bare_metal.c:42 */
  struct tvmgen_default_inputs inputs = {
      /* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/src/demo.c:46 */
      /* at apache/tvm@513c2be0c3:apps/microtvm/ethosu/src/demo_bare_metal.c:43 */
      .tfl_quantize = input,
  };
  /* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/src/demo.c:48 */
  /* at apache/tvm@513c2be0c3:apps/microtvm/ethosu/src/demo_bare_metal.c:45 */
  struct ethosu_driver* driver = ethosu_reserve_driver();
  /* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/src/demo.c:49 */
  /* at apache/tvm@513c2be0c3:apps/microtvm/ethosu/src/demo_bare_metal.c:46 */
  struct tvmgen_default_devices devices = {
      /* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/src/demo.c:50 */
      /* at apache/tvm@513c2be0c3:apps/microtvm/ethosu/src/demo_bare_metal.c:47 */
      .ethos_u = driver,
  };
  /* at apache/tvm@3b20c21f9e:apps/microtvm/ethosu/src/demo.c:52 */
  /* at apache/tvm@513c2be0c3:apps/microtvm/ethosu/src/demo_bare_metal.c:49 */
  int32_t ret_val = tvmgen_default_run(&inputs, &outputs, &devices);
  ethosu_release_driver(driver);
  mlfcheck_write(argv[2], output, 0);
  return ret_val;
}
