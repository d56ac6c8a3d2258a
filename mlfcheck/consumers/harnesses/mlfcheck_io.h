/* mlfcheck's harness I/O: main(argc, argv) gets "in.bin" and "out.bin" (host and board alike). */
#ifndef MLFCHECK_IO_H_
#define MLFCHECK_IO_H_
#include <stddef.h>
#include <stdio.h>
#include <string.h>

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
