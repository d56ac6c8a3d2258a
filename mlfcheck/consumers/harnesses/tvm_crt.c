/* mlfcheck's stand-in for the parts of TVM's C runtime (standalone_crt) a consumer's build
   compiles beside an archive of MLF v1-v7: the workspace allocator the generated C calls
   (TVMBackendAllocWorkspace, a stack as the CRT's stack allocator is) and the last-error
   calls. Written for mlfcheck from the ABI, not copied from TVM. */
#include <stddef.h>
#include <stdint.h>

#ifndef MLFCHECK_ARENA_BYTES
#define MLFCHECK_ARENA_BYTES (512 * 1024)
#endif

static uint8_t arena[MLFCHECK_ARENA_BYTES] __attribute__((aligned(16)));
static size_t used;
static const char* last_error = "";

void* TVMBackendAllocWorkspace(int device_type, int device_id, uint64_t nbytes,
                               int dtype_code_hint, int dtype_bits_hint) {
  size_t size = (size_t)((nbytes + 15u) & ~(uint64_t)15u);
  void* at;
  (void)device_type; (void)device_id; (void)dtype_code_hint; (void)dtype_bits_hint;
  if (size > sizeof(arena) - used) return NULL;
  at = arena + used;
  used += size;
  return at;
}

int TVMBackendFreeWorkspace(int device_type, int device_id, void* ptr) {
  (void)device_type; (void)device_id;
  if ((uint8_t*)ptr >= arena && (uint8_t*)ptr < arena + used) used = (size_t)((uint8_t*)ptr - arena);
  return 0;
}

void TVMAPISetLastError(const char* msg) { last_error = msg; }

const char* TVMGetLastError(void) { return last_error; }
