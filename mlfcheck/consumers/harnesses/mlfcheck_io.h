/* mlfcheck's harness I/O: main(argc, argv) gets "in.bin" and "out.bin" (host and board alike). */
#ifndef MLFCHECK_IO_H_
#define MLFCHECK_IO_H_
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The archive's module, for applications whose consumer writes its calls for the module it
   exported (mlfcheck passes -DMLFCHECK_MODULE=<m> -DMLFCHECK_HEADER="tvmgen_<m>.h"):
   MLFCHECK_NAME(run) is tvmgen_<m>_run, #include MLFCHECK_HEADER its interface header. */
#ifndef MLFCHECK_MODULE
#define MLFCHECK_MODULE default
#endif
#ifndef MLFCHECK_HEADER
#define MLFCHECK_HEADER "tvmgen_default.h"
#endif
#define MLFCHECK_PASTE_(module, suffix) tvmgen_##module##_##suffix
#define MLFCHECK_PASTE(module, suffix) MLFCHECK_PASTE_(module, suffix)
#define MLFCHECK_NAME(suffix) MLFCHECK_PASTE(MLFCHECK_MODULE, suffix)

/* The buffers MLFCHECK_INPUTS and MLFCHECK_OUTPUTS fill the interface structs with (mlfcheck
   writes them as `.name = mlfcheck_inputs[i],`, consumers/harness.py fill_flags): applications
   that fill the structs by the archive's member names declare them with this macro, at file
   scope. MLFCHECK_TENSORS of each, MLFCHECK_IO_BYTES each (-D; default 64 KiB). */
#ifdef MLFCHECK_IO_BYTES
#define MLFCHECK_NAMED_BYTES MLFCHECK_IO_BYTES
#else
#define MLFCHECK_NAMED_BYTES (64 * 1024)
#endif
#define MLFCHECK_NAMED_BUFFERS                                                              \
  static uint8_t mlfcheck_inputs[MLFCHECK_TENSORS][MLFCHECK_NAMED_BYTES]                    \
      __attribute__((aligned(16)));                                                         \
  static uint8_t mlfcheck_outputs[MLFCHECK_TENSORS][MLFCHECK_NAMED_BYTES]                   \
      __attribute__((aligned(16)))

/* Fill `buffer` with 0xA5 (a pattern, not data), then with the bytes of `path` (at most n). */
static inline void mlfcheck_read(const char* path, void* buffer, size_t n) {
  FILE* f = fopen(path, "rb");
  memset(buffer, 0xA5, n);
  if (f != NULL) {
    (void)fread(buffer, 1, n, f);
    fclose(f);
  }
}

/* Write n bytes of `buffer` to `path`. */
static inline void mlfcheck_write(const char* path, const void* buffer, size_t n) {
  FILE* f = fopen(path, "wb");
  if (f != NULL) {
    fwrite(buffer, 1, n, f);
    fclose(f);
  }
}
#endif
