/* NCCL communicators and the f32 all-reduce of tensor parallelism (see cuda_nccl.h). */
#include <cuda_runtime.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>

extern "C" {
#include "core/error.h"
}
#include "cuda/cuda_nccl.h"

struct tn_nccl {
    int n;
    int *devices;
    ncclComm_t *comms;
};

/* NCCL's generic message plus its last detailed one (which names e.g. the failing transport). */
static int nccl_fail(const char *call, ncclResult_t r, ncclComm_t comm, int rank, int device) {
    const char *detail = ncclGetLastError(comm);
    return tn_set_error("NCCL %s failed (rank %d, CUDA device %d): %s%s%s", call, rank, device,
                        ncclGetErrorString(r), detail && *detail ? ": " : "", detail ? detail : "");
}

static int cuda_fail(const char *call, cudaError_t e, int device) {
    return tn_set_error("CUDA %s failed on device %d: %s", call, device, cudaGetErrorString(e));
}

extern "C" tn_nccl *tn_nccl_new(int n, const int *devices) {
    if (n < 1 || n > 1024) {
        tn_set_error("tensor parallelism over %d GPUs requested (1 .. 1024)", n);
        return NULL;
    }
    for (int r = 0; r < n; r++) {
        int d = devices ? devices[r] : r;
        for (int q = 0; devices && q < r; q++)
            if (devices[q] == d) {
                tn_set_error("tensor parallelism: CUDA device %d listed twice (ranks %d and %d)", d, q, r);
                return NULL;
            }
    }
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        tn_set_error("tensor parallelism: no usable CUDA device (cudaGetDeviceCount: %s)",
                     cudaGetErrorString(e));
        return NULL;
    }
    tn_nccl *c = (tn_nccl *)calloc(1, sizeof *c);
    if (c) {
        c->devices = (int *)calloc((size_t)n, sizeof(int));
        c->comms = (ncclComm_t *)calloc((size_t)n, sizeof(ncclComm_t));
    }
    if (!c || !c->devices || !c->comms) {
        tn_set_error("out of memory");
        tn_nccl_free(c);
        return NULL;
    }
    for (int r = 0; r < n; r++) {
        int d = devices ? devices[r] : r;
        if (d < 0 || d >= count) {
            tn_set_error("tensor parallelism over %d GPUs: CUDA device %d requested, %d visible", n,
                         d, count);
            tn_nccl_free(c);
            return NULL;
        }
        c->devices[r] = d;
    }
    /* NVLink SHARP (multicast) can take shared H200 hosts out of service: off unless the user
     * explicitly turned it on (the GPU machines set this already; this covers a bare env). */
    setenv("NCCL_NVLS_ENABLE", "0", 0);
    ncclResult_t r = ncclCommInitAll(c->comms, n, c->devices);
    if (r != ncclSuccess) {
        nccl_fail("ncclCommInitAll", r, NULL, 0, c->devices[0]);
        free(c->comms); /* InitAll leaves nothing to destroy on failure */
        c->comms = NULL;
        tn_nccl_free(c);
        return NULL;
    }
    c->n = n;
    return c;
}

extern "C" void tn_nccl_free(tn_nccl *c) {
    if (!c) return;
    for (int r = 0; c->comms && r < c->n; r++)
        if (c->comms[r]) ncclCommDestroy(c->comms[r]);
    free(c->comms);
    free(c->devices);
    free(c);
}

extern "C" int tn_nccl_size(const tn_nccl *c) { return c->n; }
extern "C" int tn_nccl_device(const tn_nccl *c, int rank) {
    return rank >= 0 && rank < c->n ? c->devices[rank] : -1;
}

extern "C" int tn_nccl_allreduce_f32(tn_nccl *c, float *const *bufs, size_t n, void *const *streams) {
    ncclResult_t r = ncclGroupStart();
    if (r != ncclSuccess) return nccl_fail("ncclGroupStart", r, NULL, 0, c->devices[0]);
    int failed = -1;
    for (int k = 0; k < c->n && failed < 0; k++) {
        cudaStream_t s = streams ? (cudaStream_t)streams[k] : 0;
        cudaError_t e = cudaSetDevice(c->devices[k]);
        if (e != cudaSuccess) {
            cuda_fail("cudaSetDevice", e, c->devices[k]);
            failed = k;
        } else if ((r = ncclAllReduce(bufs[k], bufs[k], n, ncclFloat32, ncclSum, c->comms[k], s)) !=
                   ncclSuccess) {
            nccl_fail("ncclAllReduce", r, c->comms[k], k, c->devices[k]);
            failed = k;
        }
    }
    /* The group must be closed even after a failure, or NCCL stays in group mode. */
    ncclResult_t re = ncclGroupEnd();
    if (failed >= 0) return -1;
    if (re != ncclSuccess) return nccl_fail("ncclGroupEnd (all-reduce)", re, c->comms[0], 0, c->devices[0]);
    return 0;
}

extern "C" int tn_nccl_allreduce_host(tn_nccl *c, float *const *host_bufs, size_t n) {
    float **dev = (float **)calloc((size_t)c->n, sizeof(float *));
    void **streams = (void **)calloc((size_t)c->n, sizeof(void *));
    int rc = dev && streams ? 0 : tn_set_error("out of memory");
    cudaError_t e;
    for (int k = 0; k < c->n && !rc; k++) {
        cudaStream_t s;
        if ((e = cudaSetDevice(c->devices[k])) != cudaSuccess ||
            (e = cudaStreamCreate(&s)) != cudaSuccess) {
            rc = cuda_fail("stream setup", e, c->devices[k]);
            break;
        }
        streams[k] = s;
        if ((e = cudaMalloc((void **)&dev[k], n * sizeof(float))) != cudaSuccess ||
            (e = cudaMemcpy(dev[k], host_bufs[k], n * sizeof(float), cudaMemcpyHostToDevice)) != cudaSuccess)
            rc = cuda_fail("upload", e, c->devices[k]);
    }
    if (!rc) rc = tn_nccl_allreduce_f32(c, dev, n, streams);
    for (int k = 0; k < c->n && !rc; k++) {
        cudaSetDevice(c->devices[k]);
        if ((e = cudaStreamSynchronize((cudaStream_t)streams[k])) != cudaSuccess ||
            (e = cudaMemcpy(host_bufs[k], dev[k], n * sizeof(float), cudaMemcpyDeviceToHost)) != cudaSuccess)
            rc = cuda_fail("download", e, c->devices[k]);
    }
    for (int k = 0; k < c->n && dev && streams; k++) {
        cudaSetDevice(c->devices[k]);
        if (dev[k]) cudaFree(dev[k]);
        if (streams[k]) cudaStreamDestroy((cudaStream_t)streams[k]);
    }
    free(dev);
    free(streams);
    return rc;
}

extern "C" const char *tn_nccl_version(char *buf, size_t cap) {
    int v = 0;
    if (ncclGetVersion(&v) != ncclSuccess) v = 0;
    /* NCCL >= 2.9 encodes MAJOR*10000 + MINOR*100 + PATCH. */
    snprintf(buf, cap, "%d.%d.%d", v / 10000, v / 100 % 100, v % 100);
    return buf;
}
