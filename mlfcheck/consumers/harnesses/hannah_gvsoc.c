/* hannah-tvm's gvsoc host_driven project (ekut-es/hannah-tvm 7d33e171c1) beside mlfcheck's
   graph_runner.c with a "gvsoc-builder" plan, which stands in for the build/runner.c
   GVSOCBuilder writes from the graph and for test.c's call of its run() (the PULP runtime's
   cycle counters around it left out). This file stands in for utvm_runtime_api.c, the minimal
   runtime the Makefile compiles with them: its parallel launch runs the one task inline and
   its barrier does nothing. Its functions are weak, as utvm_runtime_api.h declares them, so
   tvm_crt.c's workspace allocator and last-error calls take the place of utvm's malloc-based
   ones. Written for mlfcheck from the ABI. */
#include <stdint.h>

/* at ekut-es/hannah-tvm@7d33e171c1:template/gvsoc/host_driven/utvm_runtime_api.h:24 */
#define MLFCHECK_UTVM_API __attribute__((weak, visibility("default")))

typedef struct {
  void* sync_handle;
  int32_t num_task;
} TVMParallelGroupEnv;
typedef int (*FTVMParallelLambda)(int task_id, TVMParallelGroupEnv* penv, void* cdata);

/* at ekut-es/hannah-tvm@7d33e171c1:template/gvsoc/host_driven/utvm_runtime_api.c:43 */
MLFCHECK_UTVM_API int TVMBackendParallelLaunch(FTVMParallelLambda flambda, void* cdata,
                                               int num_task) {
  TVMParallelGroupEnv env;
  (void)num_task;
  env.sync_handle = 0;
  env.num_task = 1;
  (void)flambda(0, &env, cdata);
  return 0;
}

/* at ekut-es/hannah-tvm@7d33e171c1:template/gvsoc/host_driven/utvm_runtime_api.c:50 */
MLFCHECK_UTVM_API int TVMBackendParallelBarrier(int task_id, TVMParallelGroupEnv* penv) {
  (void)task_id;
  (void)penv;
  return 0;
}
