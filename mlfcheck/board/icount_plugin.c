/* mlfcheck's instruction counter: a QEMU TCG plugin (plugin API version 1, QEMU 4.2 and later)
   that counts the guest instructions executed between the program's calls to
   mlfcheck_count_begin() and mlfcheck_count_end(), one count per such window.

   Each translated block adds its instruction count to a counter inline when it starts to
   execute; the first instruction of each marker function takes a snapshot. A window is the
   difference of the two snapshots: every instruction executed from the return of
   mlfcheck_count_begin through the first instruction of mlfcheck_count_end, which includes the
   markers' own call and return (4 or 5 instructions on a Cortex-M). A block left early by an exception is
   counted whole; the models' code raises none.

   The declarations below are the parts of the documented plugin API this file uses, written
   here from QEMU's "TCG Plugins" documentation. Arguments: begin=ADDRESS,end=ADDRESS (the
   markers' addresses, Thumb bit clear). At exit it writes one line to QEMU's log (-d plugin):
   "mlfcheck-icount total N windows A B ...". */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb* tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void* userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void* userdata);
enum { QEMU_PLUGIN_CB_NO_REGS = 0 };
enum { QEMU_PLUGIN_INLINE_ADD_U64 = 0 };

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
                                           qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb* tb);
struct qemu_plugin_insn* qemu_plugin_tb_get_insn(const struct qemu_plugin_tb* tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn* insn);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb* tb, int op, void* ptr,
                                              uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn* insn,
                                            qemu_plugin_vcpu_udata_cb_t cb, int flags,
                                            void* userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb,
                                    void* userdata);
void qemu_plugin_outs(const char* string);

#define EXPORTED __attribute__((visibility("default")))
#define MAX_WINDOWS 64

EXPORTED int qemu_plugin_version = 1;

static uint64_t executed;
static uint64_t begin_at, end_at, opened;
static uint64_t windows[MAX_WINDOWS];
static unsigned closed;

static void on_begin(unsigned int vcpu, void* data) {
  (void)vcpu; (void)data;
  opened = executed;
}

static void on_end(unsigned int vcpu, void* data) {
  (void)vcpu; (void)data;
  if (closed < MAX_WINDOWS) windows[closed++] = executed - opened;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
  size_t n = qemu_plugin_tb_n_insns(tb), i;
  (void)id;
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &executed, n);
  for (i = 0; i < n; ++i) {
    struct qemu_plugin_insn* insn = qemu_plugin_tb_get_insn(tb, i);
    uint64_t at = qemu_plugin_insn_vaddr(insn);
    if (at == begin_at) qemu_plugin_register_vcpu_insn_exec_cb(insn, on_begin,
                                                               QEMU_PLUGIN_CB_NO_REGS, NULL);
    if (at == end_at) qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end,
                                                             QEMU_PLUGIN_CB_NO_REGS, NULL);
  }
}

static void at_quit(qemu_plugin_id_t id, void* data) {
  char line[32 + 24 * (MAX_WINDOWS + 1)];
  size_t used;
  unsigned i;
  (void)id; (void)data;
  used = (size_t)snprintf(line, sizeof line, "mlfcheck-icount total %llu windows",
                          (unsigned long long)executed);
  for (i = 0; i < closed; ++i)
    used += (size_t)snprintf(line + used, sizeof line - used, " %llu",
                             (unsigned long long)windows[i]);
  snprintf(line + used, sizeof line - used, "\n");
  qemu_plugin_outs(line);
}

EXPORTED int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t* info, int argc,
                                 char** argv) {
  int i;
  (void)info;
  for (i = 0; i < argc; ++i) {
    if (strncmp(argv[i], "begin=", 6) == 0) begin_at = strtoull(argv[i] + 6, NULL, 0);
    else if (strncmp(argv[i], "end=", 4) == 0) end_at = strtoull(argv[i] + 4, NULL, 0);
    else return -1;
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  qemu_plugin_register_atexit_cb(id, at_quit, NULL);
  return 0;
}
