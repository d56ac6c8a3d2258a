/* The Arduino example project until February 2022 (apache/tvm 87674f9ef7):
   model.c's TVMExecute calls tvmgen_default_run_model on the sketch's two buffers. */
int tvmgen_default_run_model(void* input, void* output); /* called undeclared */

/* at apache/tvm@87674f9ef7:apps/microtvm/arduino/example_project/src/model.c:89 */
int app_run(void* input_data, void* output_data) {
  /* at apache/tvm@87674f9ef7:apps/microtvm/arduino/example_project/src/model.c:90 */
  int ret_val = tvmgen_default_run_model(input_data, output_data);
  return ret_val; /* TVMExecute aborts on a nonzero ret_val; main() exits with it */
}
