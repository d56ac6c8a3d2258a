/* mlfcheck's graph runner: a graph executor written for mlfcheck from the ABI (not copied from
   TVM), standing in for the consumer that walks an archive's graph config. mlfcheck writes the
   walk as mlfcheck_plan.h (consumers/graphplan.py): one static buffer per storage id, each
   entry's storage, dtype and shape, the nodes in order with their arguments (input entries,
   then output entries), the inputs, outputs and parameters. The runner sets every entry's
   DLTensor up, puts the parameters in place (copied into their storage, as load_params does,
   pointing at their const data, as the STM32 emitter's weights do, or, with MLFCHECK_LINKED,
   pointing where the archive's _lookup_linked_param says for the storage id, as the runner
   hannah-tvm's GVSOCBuilder generates does), reads in.bin into the inputs in order, runs each
   node and writes the outputs, in order, to out.bin.

   A node's function is found as the consumer finds it: by name in the system library's
   function registry (TVMSystemLibEntryPoint), as the C runtime's module lookup does for the
   RPC server and its graph executor; or, with MLFCHECK_DIRECT_CALLS, called by its C name with
   three arguments, as the STM32 emitter's network code and GVSOCBuilder's runner call it (the
   plan's mlfcheck_call, one call per node; a missing function does not link).
   A registry call passes the packed arguments, MLFCHECK_TYPE_CODE per argument, a return
   value and the registry as the resource handle, as TVMFuncCall does.

   What stops a run is printed as one line, `mlfcheck-graph: ...`, and exits non-zero: a
   function the registry does not have (4), a function that returns non-zero (5), a node with
   more arguments than the runner holds (6). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tvm/runtime/c_backend_api.h"
#include "tvm/runtime/c_runtime_api.h"
#include "tvm/runtime/crt/module.h"

typedef struct { uint32_t storage; uint8_t code, bits; uint16_t lanes; uint32_t bytes; }
    mlfcheck_entry_t;
typedef struct { uint32_t entry; int32_t ndim; uint32_t shape; } mlfcheck_arg_t;
typedef struct { const char* name; uint32_t first, count; } mlfcheck_node_t;
typedef struct { uint32_t entry; const uint8_t* data; uint32_t bytes; } mlfcheck_param_t;
typedef struct { uint32_t entry; int64_t storage_id; } mlfcheck_linked_t;

#include "mlfcheck_plan.h"

#define MLFCHECK_IN_PLACE 0xFFFFFFFFu
#define MLFCHECK_MAX_ARGS 64
#define MLFCHECK_MAX_NDIM 32

static void* data_of[MLFCHECK_ENTRIES + 1];
static int64_t no_strides[MLFCHECK_MAX_NDIM];

#if MLFCHECK_LINKED
/* GVSOCBuilder declares it in every runner and calls it only when the graph binds parameters. */
int _lookup_linked_param(TVMValue* args, int* type_codes, int num_args, void* ret_value,
                         int* ret_tcode, void* resource_handle);
#endif

/* Each entry's data: its storage buffer, a parameter's const data left in place, or what
   _lookup_linked_param returns for its storage id (the return code unchecked, as the generated
   runner leaves it). */
static void place(void) {
  for (uint32_t e = 0; e < MLFCHECK_ENTRIES; e++) {
    uint32_t s = mlfcheck_entries[e].storage;
    data_of[e] = s == MLFCHECK_IN_PLACE ? NULL : mlfcheck_storages[s];
  }
  for (uint32_t p = 0; p < MLFCHECK_PARAMS; p++) {
    const mlfcheck_param_t* param = &mlfcheck_params[p];
    if (data_of[param->entry] == NULL) {
      data_of[param->entry] = (void*)param->data;
    } else {
      memcpy(data_of[param->entry], param->data, param->bytes);
    }
  }
#if MLFCHECK_LINKED
  for (uint32_t l = 0; l < MLFCHECK_LINKED; l++) {
    TVMValue storage_id;
    int arg_type = kTVMArgInt;
    int ret_type = 0;
    storage_id.v_int64 = mlfcheck_linked[l].storage_id;
    (void)_lookup_linked_param(&storage_id, &arg_type, 1, &data_of[mlfcheck_linked[l].entry],
                               &ret_type, NULL);
  }
#endif
}

/* in.bin into the inputs in order; what the file lacks keeps the pattern 0xA5. */
static void read_inputs(const char* path) {
  FILE* f = fopen(path, "rb");
  for (uint32_t i = 0; i < MLFCHECK_INPUTS; i++) {
    uint32_t e = mlfcheck_inputs[i];
    memset(data_of[e], 0xA5, mlfcheck_entries[e].bytes);
    if (f != NULL) (void)fread(data_of[e], 1, mlfcheck_entries[e].bytes, f);
  }
  if (f != NULL) fclose(f);
}

static void write_outputs(const char* path) {
  FILE* f = fopen(path, "wb");
  if (f == NULL) return;
  for (uint32_t i = 0; i < MLFCHECK_OUTPUTS; i++) {
    uint32_t e = mlfcheck_outputs[i];
    fwrite(data_of[e], 1, mlfcheck_entries[e].bytes, f);
  }
  fclose(f);
}

#if !MLFCHECK_DIRECT_CALLS
/* The function called `name` in the registry, NULL when it has none. The names start after the
   count: one byte before apache/tvm 07d91fa041 (May 2022), two after; a name never starts with
   a control character, so the byte after the first tells which the archive's TVM wrote. */
static TVMBackendPackedCFunc lookup(const TVMFuncRegistry* registry, const char* name) {
  const unsigned char* names = (const unsigned char*)registry->names;
  int wide = names[1] < 0x20;
  unsigned count = wide ? (unsigned)(names[0] | (names[1] << 8)) : names[0];
  const char* at = (const char*)names + (wide ? 2 : 1);
  for (unsigned i = 0; i < count && *at != '\0'; i++) {
    if (strcmp(at, name) == 0) return registry->funcs[i];
    at += strlen(at) + 1;
  }
  return NULL;
}
#endif

/* One node: its arguments as DLTensors (static, as the emitted network code's are), then the
   call. */
static int run_node(uint32_t n, const TVMFuncRegistry* registry) {
  const mlfcheck_node_t* node = &mlfcheck_nodes[n];
  static DLTensor tensors[MLFCHECK_MAX_ARGS];
  static TVMValue values[MLFCHECK_MAX_ARGS];
  static int codes[MLFCHECK_MAX_ARGS];
  TVMValue ret;
  int ret_code = 0;
  int rc;
  if (node->count > MLFCHECK_MAX_ARGS) {
    printf("mlfcheck-graph: %s takes %u arguments, over %d\n", node->name,
           (unsigned)node->count, MLFCHECK_MAX_ARGS);
    return 6;
  }
  for (uint32_t i = 0; i < node->count; i++) {
    const mlfcheck_arg_t* arg = &mlfcheck_args[node->first + i];
    const mlfcheck_entry_t* entry = &mlfcheck_entries[arg->entry];
    DLTensor* t = &tensors[i];
    memset(t, 0, sizeof(*t));
    t->data = data_of[arg->entry];
    t->device.device_type = kDLCPU;
    t->ndim = arg->ndim;
    t->dtype.code = entry->code;
    t->dtype.bits = entry->bits;
    t->dtype.lanes = entry->lanes;
    t->shape = (int64_t*)&mlfcheck_shapes[arg->shape];
    t->strides = MLFCHECK_STRIDES ? no_strides : NULL;
    values[i].v_handle = t;
    codes[i] = MLFCHECK_TYPE_CODE;
  }
#if MLFCHECK_DIRECT_CALLS
  (void)registry; (void)ret; (void)ret_code;
  rc = mlfcheck_call(n, values, codes, (int32_t)node->count);
#else
  TVMBackendPackedCFunc func = lookup(registry, node->name);
  if (func == NULL) {
    printf("mlfcheck-graph: missing %s\n", node->name);
    return 4;
  }
  ret.v_handle = NULL;
  rc = func(values, codes, (int)node->count, &ret, &ret_code, (void*)registry);
#endif
  if (rc != 0) {
    printf("mlfcheck-graph: %s returned %d\n", node->name, rc);
    return 5;
  }
  return 0;
}

int main(int argc, char** argv) {
  const TVMFuncRegistry* registry = NULL;
  if (argc != 3) return 3;
#if !MLFCHECK_DIRECT_CALLS
  registry = TVMSystemLibEntryPoint()->registry;
#endif
  place();
  read_inputs(argv[1]);
  for (uint32_t n = 0; n < MLFCHECK_NODES; n++) {
    int rc = run_node(n, registry);
    if (rc != 0) {
      fflush(stdout);
      return rc;
    }
  }
  write_outputs(argv[2]);
  return 0;
}
