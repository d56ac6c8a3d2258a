/* main() of TVM's AOT test runner as the tests that size test.c's arena with the metadata's
   workspace build it (tvm-aot-test-helper's extract_main_workspace_sizebytes, tvm-micro-testing's
   mlf_extract_workspace_size_bytes), on the host: the test exports the model, sizes the arena
   with the helper's workspace size (mlfcheck sizes tvm_crt.c's the same way), and the test's
   makefile compiles test.c with codegen/host/src/*.c against TVM's own CRT headers (tvm_crt.c
   stands in for the CRT's stack allocator and crt_backend_api.c). The file listed before this
   one defines aot_test_run with the era's call of the model; this one has the test's buffers
   (its input_data headers: in.bin; its output_data: out.bin) and the packed call's arguments. */
#include <stdint.h>

#include "mlfcheck_io.h"
#include "tvm/runtime/c_runtime_api.h"

#ifndef MLFCHECK_IO_BYTES
#define MLFCHECK_IO_BYTES (64 * 1024)
#endif
#define AOT_TEST_TENSORS (2 * MLFCHECK_TENSORS)

static uint8_t input_data[MLFCHECK_TENSORS][MLFCHECK_IO_BYTES] __attribute__((aligned(16)));
static uint8_t output_data[MLFCHECK_TENSORS][MLFCHECK_IO_BYTES] __attribute__((aligned(16)));
static DLTensor tensors[AOT_TEST_TENSORS];

/* The buffers by position (MLFCHECK_INPUTS and MLFCHECK_OUTPUTS name them). */
void* mlfcheck_inputs[MLFCHECK_TENSORS];
void* mlfcheck_outputs[MLFCHECK_TENSORS];
/* emit_main_packed_call's arguments: a DLTensor per buffer (inputs, then outputs), its device
   the CPU, no dimensions. test.c leaves the type codes unset; here they are 0. */
TVMValue aot_test_values[AOT_TEST_TENSORS];
int32_t aot_test_typeids[AOT_TEST_TENSORS];

int32_t aot_test_run(void);

int main(int argc, char** argv) {
  static int64_t fake_shape[1];
  if (argc != 3) return 3;
  for (int i = 0; i < MLFCHECK_TENSORS; i++) {
    mlfcheck_inputs[i] = input_data[i];
    mlfcheck_outputs[i] = output_data[i];
  }
  for (int i = 0; i < AOT_TEST_TENSORS; i++) {
    tensors[i].device.device_type = kDLCPU;
    tensors[i].data = i < MLFCHECK_TENSORS ? mlfcheck_inputs[i]
                                           : mlfcheck_outputs[i - MLFCHECK_TENSORS];
    tensors[i].shape = fake_shape;
    aot_test_values[i].v_handle = &tensors[i];
  }
  mlfcheck_read(argv[1], input_data[0], sizeof(input_data[0]));
  int32_t ret_val = aot_test_run();
  mlfcheck_write(argv[2], output_data[0], 0);
  return ret_val;
}
