"""The archive's runtime/: TVM-FFI C headers copied from the installed packages, and our stubs.

The kernels need five headers and three functions (workspace allocation, free, error
reporting). The headers are copied verbatim at export time; the functions are small platform
stubs written here: scratch comes from the region the AOT entry hands over for each kernel call
(a bump allocator, freed last-in first-out), errors are kept for tvmgen_platform_last_error().
"""

from __future__ import annotations

from pathlib import Path

from mlfcheck.errors import ExportError

HEADERS = (
    ("tvm", "tvm/runtime/base.h"),
    ("tvm", "tvm/runtime/c_backend_api.h"),
    ("tvm_ffi", "tvm/ffi/c_api.h"),
    ("tvm_ffi", "tvm/ffi/extra/c_env_api.h"),
    ("tvm_ffi", "dlpack/dlpack.h"),
)
"""(package, path under the package's include/) of every header the kernels include."""

PLATFORM_H = """\
/* mlfcheck platform stubs: what TVM-generated kernels need from a runtime, nothing more. */
#ifndef TVMGEN_PLATFORM_H_
#define TVMGEN_PLATFORM_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Hand the next kernel call its scratch region (NULL, 0 when it needs none). Called by the
   generated tvmgen_<m>_run(); TVMBackendAllocWorkspace allocates from this region. */
void tvmgen_platform_set_scratch(void* base, size_t size);

/* The last error a kernel reported ("Kind: message"), or "" when none. */
const char* tvmgen_platform_last_error(void);

#ifdef __cplusplus
}
#endif

#endif  /* TVMGEN_PLATFORM_H_ */
"""

PLATFORM_C = """\
/* mlfcheck platform stubs: scratch allocation from a static region and error reporting. */
#include <stdint.h>
#include <string.h>

#include "tvm/ffi/c_api.h"
#include "tvm/runtime/c_backend_api.h"
#include "tvmgen_platform.h"

#define TVMGEN_ALIGN 64
#define TVMGEN_ERROR_MAX 256

static uint8_t* scratch_base;
static size_t scratch_size;
static size_t scratch_top;
static char last_error[TVMGEN_ERROR_MAX];

void tvmgen_platform_set_scratch(void* base, size_t size) {
  scratch_base = (uint8_t*)base;
  scratch_size = size;
  scratch_top = 0;
}

const char* tvmgen_platform_last_error(void) { return last_error; }

void* TVMBackendAllocWorkspace(int device_type, int device_id, uint64_t nbytes,
                               int dtype_code_hint, int dtype_bits_hint) {
  size_t need = (size_t)((nbytes + TVMGEN_ALIGN - 1) / TVMGEN_ALIGN * TVMGEN_ALIGN);
  void* ptr;
  (void)device_type;
  (void)device_id;
  (void)dtype_code_hint;
  (void)dtype_bits_hint;
  if (scratch_base == NULL || need > scratch_size - scratch_top) {
    return NULL;
  }
  ptr = scratch_base + scratch_top;
  scratch_top += need;
  return ptr;
}

int TVMBackendFreeWorkspace(int device_type, int device_id, void* ptr) {
  uint8_t* p = (uint8_t*)ptr;
  (void)device_type;
  (void)device_id;
  if (p < scratch_base || p >= scratch_base + scratch_top) {
    return -1;
  }
  scratch_top = (size_t)(p - scratch_base);
  return 0;
}

void TVMFFIErrorSetRaisedFromCStrParts(const char* kind, const char** message_parts,
                                       int32_t num_parts) {
  size_t used = 0;
  int32_t i;
  const char* pieces[2];
  pieces[0] = kind;
  pieces[1] = ": ";
  last_error[0] = '\\0';
  for (i = -2; i < num_parts; ++i) {
    const char* s = i < 0 ? pieces[i + 2] : message_parts[i];
    size_t n = strlen(s);
    if (n > TVMGEN_ERROR_MAX - 1 - used) {
      n = TVMGEN_ERROR_MAX - 1 - used;
    }
    memcpy(last_error + used, s, n);
    used += n;
  }
  last_error[used] = '\\0';
}
"""

README = """\
Runtime for the generated code: compile runtime/src/*.c with the module's sources and add
-Iruntime/include. include/ holds the TVM-FFI and DLPack headers copied from the TVM that
exported the archive; src/tvmgen_platform.c implements the three functions the kernels call.
Linking several archives into one program: compile one archive's runtime/src only.
"""


def include_dirs() -> dict[str, Path]:
    """The include/ folder of each installed package the headers come from."""
    import tvm
    import tvm_ffi

    return {"tvm": Path(tvm.__file__).parent / "include",
            "tvm_ffi": Path(tvm_ffi.__file__).parent / "include"}


def runtime_files() -> dict[str, bytes]:
    """Archive path (under runtime/) → content, headers copied and stubs written."""
    roots = include_dirs()
    files: dict[str, bytes] = {}
    for package, rel in HEADERS:
        source = roots[package] / rel
        try:
            files[f"runtime/include/{rel}"] = source.read_bytes()
        except OSError as exc:
            raise ExportError("write", f"cannot copy {rel} from {package}: {exc}") from exc
    files["runtime/include/tvmgen_platform.h"] = PLATFORM_H.encode()
    files["runtime/src/tvmgen_platform.c"] = PLATFORM_C.encode()
    files["runtime/README"] = README.encode()
    return files
