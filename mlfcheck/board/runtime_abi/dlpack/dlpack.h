/* mlfcheck's declaration of the DLPack tensor types TVM's generated C uses (DLPack 0.4-0.6
 * layout). Written for mlfcheck from the ABI; see ../README.md. */
#ifndef MLFCHECK_DLPACK_H_
#define MLFCHECK_DLPACK_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  kDLCPU = 1,
  kDLCUDA = 2,
  kDLCUDAHost = 3,
  kDLOpenCL = 4,
  kDLVulkan = 7,
  kDLMetal = 8,
  kDLVPI = 9,
  kDLROCM = 10,
  kDLExtDev = 12,
} DLDeviceType;

typedef struct {
  DLDeviceType device_type;
  int device_id;
} DLDevice;

typedef DLDevice DLContext; /* the name before apache/tvm#7721 (2021-03-26) */

typedef enum {
  kDLInt = 0U,
  kDLUInt = 1U,
  kDLFloat = 2U,
  kDLBfloat = 4U,
} DLDataTypeCode;

typedef struct {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
} DLDataType;

typedef struct {
  void* data;
#if defined(MLFCHECK_MLF_VERSION) && MLFCHECK_MLF_VERSION == 1
  union { /* v1 C was written on both sides of the rename */
    DLDevice device;
    DLDevice ctx;
  };
#else
  DLDevice device;
#endif
  int ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;
  uint64_t byte_offset;
} DLTensor;

#ifdef __cplusplus
}
#endif
#endif /* MLFCHECK_DLPACK_H_ */
