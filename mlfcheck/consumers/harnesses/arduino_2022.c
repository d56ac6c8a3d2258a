/* The Arduino example project, February to June 2022 (apache/tvm d8f639a84f):
   model.c's TVMExecute calls tvmgen_default___tvm_main__ on the sketch's two buffers. */
int tvmgen_default___tvm_main__(void* input, void* output); /* called undeclared */

/* at apache/tvm@d8f639a84f:apps/microtvm/arduino/template_project/src/example_project/model.c:88 */
int app_run(void* input_data, void* output_data) {
  /* at apache/tvm@d8f639a84f:apps/microtvm/arduino/template_project/src/example_project/model.c:89 */
  int ret_val = tvmgen_default___tvm_main__(input_data, output_data);
  return ret_val; /* TVMExecute aborts on a nonzero ret_val; main() exits with it */
}
