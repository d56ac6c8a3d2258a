/* The TFLite Micro side of bench_board.py's comparison: one model run once on a board.

   Built with the generated "tflm_model.h" (the model's operators and the arena size) and the
   model as a C array (mlfcheck_tflm_model). Reads the inputs from argv[1] (in.bin, the seeded
   inputs mlfcheck's --verify uses, through semihosting), runs Invoke() between
   mlfcheck_count_begin() and mlfcheck_count_end() (the instruction counter's window), writes
   the outputs to argv[2] and prints "tflm-arena-used <bytes>". Built with TFLM_PROBE, it only
   allocates the tensors, in as many bytes of the arena as arena.bin says (a 32-bit count), and
   prints the same line: the probe that finds the least arena AllocateTensors() accepts. Exit
   codes: 3 a file could not be read or written, 4 the model is not the schema version, 5
   AllocateTensors failed (the arena is too small), 6 Invoke failed. */
#include <stdint.h>
#include <stdio.h>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "tflm_model.h"

extern "C" {
extern const uint8_t mlfcheck_tflm_model[];
void mlfcheck_count_begin(void);
void mlfcheck_count_end(void);
/* mlfcheck's startup code does not run constructors; the linker script marks their table. */
extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);
}

alignas(16) static uint8_t arena[TFLM_ARENA_BYTES];

static bool transfer(FILE* f, TfLiteTensor* t, bool read) {
  size_t n = read ? fread(t->data.raw, 1, t->bytes, f) : fwrite(t->data.raw, 1, t->bytes, f);
  return n == t->bytes;
}

/* The bytes of the arena this run may use: all of it, or (probing) what arena.bin says. */
static size_t arena_bytes(void) {
#ifdef TFLM_PROBE
  uint32_t n = 0;
  FILE* f = fopen("arena.bin", "rb");
  if (f != nullptr) {
    if (fread(&n, sizeof n, 1, f) != 1) n = 0;
    fclose(f);
  }
  return n < sizeof arena ? n : sizeof arena;
#else
  return sizeof arena;
#endif
}

int main(int argc, char** argv) {
  for (void (**init)(void) = __init_array_start; init < __init_array_end; ++init) (*init)();
  if (argc != 3) return 3;
  const tflite::Model* model = tflite::GetModel(mlfcheck_tflm_model);
  if (model->version() != TFLITE_SCHEMA_VERSION) return 4;
  tflite::MicroMutableOpResolver<TFLM_OPERATOR_COUNT> resolver;
  TFLM_ADD_OPERATORS(resolver);
  tflite::MicroInterpreter interpreter(model, resolver, arena, arena_bytes());
  if (interpreter.AllocateTensors() != kTfLiteOk) return 5;
#ifdef TFLM_PROBE
  printf("tflm-arena-used %lu\n", (unsigned long)interpreter.arena_used_bytes());
  return 0;
#endif
  FILE* f = fopen(argv[1], "rb");
  if (f == nullptr) return 3;
  for (size_t i = 0; i < interpreter.inputs_size(); ++i) {
    if (!transfer(f, interpreter.input(i), true)) return 3;
  }
  fclose(f);
  mlfcheck_count_begin();
  TfLiteStatus status = interpreter.Invoke();
  mlfcheck_count_end();
  if (status != kTfLiteOk) return 6;
  if ((f = fopen(argv[2], "wb")) == nullptr) return 3;
  for (size_t i = 0; i < interpreter.outputs_size(); ++i) {
    if (!transfer(f, interpreter.output(i), false)) return 3;
  }
  fclose(f);
  printf("tflm-arena-used %lu\n", (unsigned long)interpreter.arena_used_bytes());
  return 0;
}
