/* The Zephyr template's mlperftiny project (apache/tvm 513c2be0c3, since e0a825d636), as mlfcheck
   builds it against an archive: submitter_implemented.cc compiles against the archive's
   tvmgen_default.h and Infer() fills the interface structs with the tensor names of the
   TARGET_MODEL it is built for, then calls tvmgen_default_run; the C runtime is TVM's own
   (tvm_crt.c stands in for it). The project generator sets TARGET_MODEL; mlfcheck picks the
   one whose input name the archive's header has (MLFCHECK_MEMBER_<name>), KWS otherwise.
   Input and output: in.bin and out.bin. */
#include <stdint.h>

#include "mlfcheck_io.h"
/* at apache/tvm@513c2be0c3:apps/microtvm/zephyr/template_project/src/mlperftiny/submitter_implemented.cc:35 */
#include "tvmgen_default.h"

/* at apache/tvm@513c2be0c3:apps/microtvm/zephyr/template_project/src/mlperftiny/submitter_implemented.cc:40 */
#define MODEL_KWS 1
#define MODEL_VWW 2
#define MODEL_AD 3
#define MODEL_IC 4

#ifndef TARGET_MODEL
#ifdef MLFCHECK_MEMBER_input_1_int8
#define TARGET_MODEL MODEL_VWW
#else
#define TARGET_MODEL MODEL_KWS
#endif
#endif

#ifndef MLFCHECK_IO_BYTES
#define MLFCHECK_IO_BYTES (64 * 1024)
#endif

static uint8_t input_data[MLFCHECK_IO_BYTES] __attribute__((aligned(16)));
static uint8_t output_data[MLFCHECK_IO_BYTES] __attribute__((aligned(16)));

static int Infer(void* input_ptr) {
  /* at apache/tvm@513c2be0c3:apps/microtvm/zephyr/template_project/src/mlperftiny/submitter_implemented.cc:149 */
  struct tvmgen_default_inputs inputs = {
#if TARGET_MODEL == MODEL_KWS || TARGET_MODEL == MODEL_AD
      /* at apache/tvm@513c2be0c3:apps/microtvm/zephyr/template_project/src/mlperftiny/submitter_implemented.cc:151 */
      .input_1 = input_ptr,
#else
      /* at apache/tvm@513c2be0c3:apps/microtvm/zephyr/template_project/src/mlperftiny/submitter_implemented.cc:155 */
      .input_1_int8 = input_ptr,
#endif
  };
  /* at apache/tvm@513c2be0c3:apps/microtvm/zephyr/template_project/src/mlperftiny/submitter_implemented.cc:163 */
  struct tvmgen_default_outputs outputs = {
#if TARGET_MODEL == MODEL_KWS || TARGET_MODEL == MODEL_AD
      /* at apache/tvm@513c2be0c3:apps/microtvm/zephyr/template_project/src/mlperftiny/submitter_implemented.cc:165 */
      .Identity = output_data,
#else
      /* at apache/tvm@513c2be0c3:apps/microtvm/zephyr/template_project/src/mlperftiny/submitter_implemented.cc:169 */
      .Identity_int8 = output_data,
#endif
  };
  /* at apache/tvm@513c2be0c3:apps/microtvm/zephyr/template_project/src/mlperftiny/submitter_implemented.cc:175 */
  return tvmgen_default_run(&inputs, &outputs);
}

int main(int argc, char** argv) {
  if (argc != 3) return 3;
  mlfcheck_read(argv[1], input_data, sizeof(input_data));
  int ret_val = Infer(input_data);
  mlfcheck_write(argv[2], output_data, 0);
  return ret_val;
}
