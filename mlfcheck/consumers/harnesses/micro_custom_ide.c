/* The main.c of TVM's how-to micro_custom_ide (apache/tvm eecc02ad35), in the IDE project it
   describes, as mlfcheck builds it: the project compiles every C file of the extracted model
   folder (codegen/host/src; runtime/src, whose C runtime needs the crt_config.h the user copies
   from templates/crt_config.h.template: "not built here") with model/runtime/include,
   model/codegen/host/include and model/samples on the include path, and the platform.c the
   user copies from templates/platform.c.template (an archive file mlfcheck does not compile:
   an archive without the template leaves TVMPlatformInitialize undefined). main.c includes
   tvmgen_default.h, fills the interface structs (the how-to's names are its VWW model's; here
   the archive's own, MLFCHECK_INPUTS and MLFCHECK_OUTPUTS, as a main.c written for the model
   does) and calls tvmgen_default_run. The how-to's samples/ images: in.bin. main():
   harness_main.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* at apache/tvm@eecc02ad35:gallery/how_to/work_with_microtvm/micro_custom_ide.py:292 */
#include "tvmgen_default.h"

/* platform.c's (templates/platform.c.template): called undeclared. */
int TVMPlatformInitialize(void);
size_t TVMPlatformFormatMessage(char* out_buf, size_t out_buf_size_bytes, const char* fmt,
                                va_list args);

/* at apache/tvm@eecc02ad35:gallery/how_to/work_with_microtvm/micro_custom_ide.py:342 */
void TVMLogf(const char* msg, ...) {
  char buffer[128];
  va_list args;
  va_start(args, msg);
  /* at apache/tvm@eecc02ad35:gallery/how_to/work_with_microtvm/micro_custom_ide.py:347 */
  (void)TVMPlatformFormatMessage(buffer, 128, msg, args);
  va_end(args);
}

int app_run(void* input_data, void* output_data) {
  void* mlfcheck_inputs[MLFCHECK_TENSORS];
  void* mlfcheck_outputs[MLFCHECK_TENSORS];
  for (int i = 0; i < MLFCHECK_TENSORS; i++) {
    mlfcheck_inputs[i] = input_data;
    mlfcheck_outputs[i] = output_data;
  }
  /* at apache/tvm@eecc02ad35:gallery/how_to/work_with_microtvm/micro_custom_ide.py:300 */
  TVMPlatformInitialize();
  /* at apache/tvm@eecc02ad35:gallery/how_to/work_with_microtvm/micro_custom_ide.py:302 */
  struct tvmgen_default_inputs inputs = {MLFCHECK_INPUTS};
  /* at apache/tvm@eecc02ad35:gallery/how_to/work_with_microtvm/micro_custom_ide.py:305 */
  struct tvmgen_default_outputs outputs = {MLFCHECK_OUTPUTS};
  /* at apache/tvm@eecc02ad35:gallery/how_to/work_with_microtvm/micro_custom_ide.py:325 */
  return tvmgen_default_run(&inputs, &outputs);
}
