// Mat-vec streaming designs on Q4_0-shaped weights, measured alone and as a decode step's sequence
// (Llama-3-8B: per layer q/k/v 6144x4096, o 4096x4096, gate+up 2x14336x4096, down 4096x14336;
// 32 layers, distinct buffers so nothing stays in L2), launched with programmatic dependent launch
// like tern's decode graph. The question it answers: how much of the copy bandwidth a decode
// mat-vec can reach with each way of keeping bytes in flight, before the library kernel changes.
//   cur:  tern's k_mv_q schedule (one block per 8 rows, 4 items per lane and row loaded, then used)
//   preg: persistent warps over row pairs, the next batch loaded into registers before computing
//   cpa:  persistent warps, each with a cp.async ring of NS stages in shared memory
//   read: persistent grid-stride 16-byte reads of the same bytes (no arithmetic): the ceiling
// Layout (tern's repacked Q4_0): A = 16 bytes of nibbles per 32-element item, row-major items;
// S = one f16 scale per item. Activations: int8 per item + (scale, sum). Outputs are compared.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <vector>

#define CK(x)                                                                                      \
    do {                                                                                           \
        cudaError_t e_ = (x);                                                                      \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(e_));             \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

struct xmeta {
    float d;
    int s;
};

struct mv {
    const uint8_t *a; // rows x items x 16
    const __half *s;  // rows x items
    const int8_t *x;  // n_in
    const xmeta *xm;  // items
    float *out;       // rows
    int rows, items;
};

__device__ __forceinline__ void pdl_begin() {
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
}
__device__ __forceinline__ void pdl_wait() {
    asm volatile("griddepcontrol.wait;" ::: "memory");
}

__device__ __forceinline__ float dot_item(uint4 a, float sc, const int *x, xmeta m) {
    const uint32_t w[4] = {a.x, a.y, a.z, a.w};
    int acc = 0;
#pragma unroll
    for (int k = 0; k < 4; k++) {
        acc = __dp4a((int)(w[k] & 0x0F0F0F0Fu), x[k], acc);
        acc = __dp4a((int)((w[k] >> 4) & 0x0F0F0F0Fu), x[k + 4], acc);
    }
    return sc * m.d * (float)(acc - 8 * m.s);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// x (int8 items + meta) into shared memory: every block of every design does this once.
__device__ __forceinline__ void stage_x(const mv &p, uint8_t *smem) {
    int4 *xs = (int4 *)smem;
    xmeta *ms = (xmeta *)(smem + p.items * 32);
    for (int i = threadIdx.x; i < p.items * 2; i += blockDim.x)
        xs[i] = ((const int4 *)p.x)[i];
    for (int i = threadIdx.x; i < p.items; i += blockDim.x)
        ms[i] = p.xm[i];
    __syncthreads();
}

__device__ __forceinline__ void x_item(const uint8_t *smem, int items, int it, int xw[8],
                                       xmeta &m) {
    const int4 v = ((const int4 *)smem)[2 * it], w = ((const int4 *)smem)[2 * it + 1];
    xw[0] = v.x, xw[1] = v.y, xw[2] = v.z, xw[3] = v.w, xw[4] = w.x, xw[5] = w.y, xw[6] = w.z,
    xw[7] = w.w;
    m = ((const xmeta *)(smem + items * 32))[it];
}

// ---- cur: 4 warps x 2 rows per block, U = 4 items per lane and row per batch
__global__ void __launch_bounds__(128, 5) k_cur(const mv p) {
    extern __shared__ __align__(16) uint8_t sm[];
    const int lane = threadIdx.x & 31, w = blockIdx.x * 4 + (threadIdx.x >> 5);
    const int r0 = min(2 * w, p.rows - 2);
    const uint8_t *A = p.a + (size_t)r0 * p.items * 16;
    const __half *S = p.s + (size_t)r0 * p.items;
    float acc[2] = {0, 0};
    pdl_begin();
    uint4 av[4][2];
    __half sv[4][2];
#pragma unroll
    for (int u = 0; u < 4; u++)
#pragma unroll
        for (int j = 0; j < 2; j++) {
            const int it = min(u * 32 + lane, p.items - 1);
            av[u][j] = __ldg((const uint4 *)(A + ((size_t)j * p.items + it) * 16));
            sv[u][j] = S[(size_t)j * p.items + it];
        }
    pdl_wait();
    stage_x(p, sm);
    for (int base = 0; base < p.items; base += 128) {
        if (base)
#pragma unroll
            for (int u = 0; u < 4; u++)
#pragma unroll
                for (int j = 0; j < 2; j++) {
                    const int it = min(base + u * 32 + lane, p.items - 1);
                    av[u][j] = __ldg((const uint4 *)(A + ((size_t)j * p.items + it) * 16));
                    sv[u][j] = S[(size_t)j * p.items + it];
                }
#pragma unroll
        for (int u = 0; u < 4; u++) {
            if (base + u * 32 >= p.items) break;
            int xw[8];
            xmeta m;
            x_item(sm, p.items, base + u * 32 + lane, xw, m);
#pragma unroll
            for (int j = 0; j < 2; j++)
                acc[j] += dot_item(av[u][j], __half2float(sv[u][j]), xw, m);
        }
    }
#pragma unroll
    for (int j = 0; j < 2; j++)
        acc[j] = warp_sum(acc[j]);
    if (lane == 0 && 2 * w < p.rows) p.out[r0] = acc[0], p.out[r0 + 1] = acc[1];
}

// ---- preg: persistent warps; the flattened (row pair, batch) sequence with the next batch's
// loads issued before the current batch is computed. U items per lane and row per batch.
template <int U> struct preg_batch {
    uint4 a[U][2];
    __half s[U][2];
};

template <int U>
__device__ __forceinline__ void preg_load(const mv &p, int pair, int base, int lane,
                                          preg_batch<U> &b) {
    const size_t r0 = (size_t)pair * 2;
#pragma unroll
    for (int u = 0; u < U; u++)
#pragma unroll
        for (int j = 0; j < 2; j++) {
            if (base + u * 32 >= p.items) break;
            const size_t it = (r0 + j) * p.items + base + u * 32 + lane;
            b.a[u][j] = __ldg((const uint4 *)(p.a + it * 16));
            b.s[u][j] = p.s[it];
        }
}

template <int U> __global__ void __launch_bounds__(128) k_preg(const mv p) {
    extern __shared__ __align__(16) uint8_t sm[];
    const int lane = threadIdx.x & 31;
    const int nw = gridDim.x * 4, w0 = blockIdx.x * 4 + (threadIdx.x >> 5);
    const int pairs = p.rows / 2, nb = (p.items + 32 * U - 1) / (32 * U);
    const int n_t = w0 < pairs ? ((pairs - 1 - w0) / nw + 1) * nb : 0; // this warp's batches
    preg_batch<U> cur, nxt;
    pdl_begin();
    if (n_t) preg_load<U>(p, w0, 0, lane, cur);
    pdl_wait();
    stage_x(p, sm);
    float acc[2] = {0, 0};
    for (int t = 0; t < n_t; t++) {
        const int pair = w0 + (t / nb) * nw, b = t % nb;
        if (t + 1 < n_t)
            preg_load<U>(p, w0 + ((t + 1) / nb) * nw, ((t + 1) % nb) * 32 * U, lane, nxt);
#pragma unroll
        for (int u = 0; u < U; u++) {
            if (b * 32 * U + u * 32 >= p.items) break;
            int xw[8];
            xmeta m;
            x_item(sm, p.items, b * 32 * U + u * 32 + lane, xw, m);
#pragma unroll
            for (int j = 0; j < 2; j++)
                acc[j] += dot_item(cur.a[u][j], __half2float(cur.s[u][j]), xw, m);
        }
        if (b == nb - 1) {
#pragma unroll
            for (int j = 0; j < 2; j++)
                acc[j] = warp_sum(acc[j]);
            if (lane == 0) p.out[2 * pair] = acc[0], p.out[2 * pair + 1] = acc[1];
            acc[0] = acc[1] = 0;
        }
        cur = nxt;
    }
}

// ---- cpa: persistent warps, each with an NS-stage cp.async ring (A and scales of one batch of U
// items per lane and row per stage).
__device__ __forceinline__ void cp16(void *dst, const void *src) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_commit() {
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int N> __device__ __forceinline__ void cp_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

template <int U> __host__ __device__ constexpr int cpa_stage_bytes() {
    return U * 2 * 32 * 16 + 2 * U * 32 * 2;
}

template <int U>
__device__ __forceinline__ void cpa_issue(const mv &p, int pair, int base, int lane, uint8_t *st) {
    const size_t r0 = (size_t)pair * 2;
#pragma unroll
    for (int u = 0; u < U; u++)
#pragma unroll
        for (int j = 0; j < 2; j++) {
            if (base + u * 32 >= p.items) break;
            const size_t it = (r0 + j) * p.items + base + u * 32 + lane;
            cp16(st + ((u * 2 + j) * 32 + lane) * 16, p.a + it * 16);
        }
    // scales: per row U*32 halves = 4U 16-byte chunks
    if (lane < 8 * U) {
        const int j = lane / (4 * U), c = lane % (4 * U);
        const size_t it = (r0 + j) * p.items + base;
        if (base + c * 8 < p.items)
            cp16(st + U * 2 * 32 * 16 + j * U * 64 + c * 16, (const uint8_t *)(p.s + it) + c * 16);
    }
}

template <int U, int NS> __global__ void __launch_bounds__(128) k_cpa(const mv p) {
    extern __shared__ __align__(16) uint8_t sm[];
    const int lane = threadIdx.x & 31, wi = threadIdx.x >> 5;
    const int nw = gridDim.x * 4, w0 = blockIdx.x * 4 + wi;
    const int pairs = p.rows / 2, nb = (p.items + 32 * U - 1) / (32 * U);
    const int n_t = w0 < pairs ? ((pairs - 1 - w0) / nw + 1) * nb : 0;
    const int xbytes = p.items * 32 + p.items * (int)sizeof(xmeta);
    uint8_t *ring = sm + ((xbytes + 15) & ~15) + wi * NS * cpa_stage_bytes<U>();
    pdl_begin();
#pragma unroll
    for (int s = 0; s < NS - 1; s++) {
        if (s < n_t)
            cpa_issue<U>(p, w0 + (s / nb) * nw, (s % nb) * 32 * U, lane,
                         ring + s * cpa_stage_bytes<U>());
        cp_commit();
    }
    pdl_wait();
    stage_x(p, sm);
    float acc[2] = {0, 0};
    for (int t = 0; t < n_t; t++) {
        const int pair = w0 + (t / nb) * nw, b = t % nb;
        cp_wait<NS - 2>();
        __syncwarp();
        const uint8_t *st = ring + (t % NS) * cpa_stage_bytes<U>();
#pragma unroll
        for (int u = 0; u < U; u++) {
            if (b * 32 * U + u * 32 >= p.items) break;
            int xw[8];
            xmeta m;
            x_item(sm, p.items, b * 32 * U + u * 32 + lane, xw, m);
#pragma unroll
            for (int j = 0; j < 2; j++) {
                const uint4 a = *(const uint4 *)(st + ((u * 2 + j) * 32 + lane) * 16);
                const __half s =
                    ((const __half *)(st + U * 2 * 32 * 16 + j * U * 64))[u * 32 + lane];
                acc[j] += dot_item(a, __half2float(s), xw, m);
            }
        }
        __syncwarp();
        const int tn = t + NS - 1;
        if (tn < n_t)
            cpa_issue<U>(p, w0 + (tn / nb) * nw, (tn % nb) * 32 * U, lane,
                         ring + (tn % NS) * cpa_stage_bytes<U>());
        cp_commit();
        if (b == nb - 1) {
#pragma unroll
            for (int j = 0; j < 2; j++)
                acc[j] = warp_sum(acc[j]);
            if (lane == 0) p.out[2 * pair] = acc[0], p.out[2 * pair + 1] = acc[1];
            acc[0] = acc[1] = 0;
        }
    }
    cp_wait<0>();
}

// ---- read: the bytes of A and S, grid-stride, 4 x 16 bytes per thread in flight
__global__ void __launch_bounds__(256) k_read(const mv p) {
    pdl_begin();
    const size_t na = (size_t)p.rows * p.items,
                 n = na + na / 8; // A words + S (2 B per item = 1/8 of 16)
    const uint4 *A = (const uint4 *)p.a, *S = (const uint4 *)p.s;
    uint32_t h = 0;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    for (; i + 3 * stride < n; i += 4 * stride) {
        uint4 v[4];
#pragma unroll
        for (int k = 0; k < 4; k++) {
            const size_t j = i + k * stride;
            v[k] = j < na ? __ldg(A + j) : __ldg(S + (j - na));
        }
#pragma unroll
        for (int k = 0; k < 4; k++)
            h ^= v[k].x ^ v[k].y ^ v[k].z ^ v[k].w;
    }
    for (; i < n; i += stride) {
        const uint4 v = i < na ? __ldg(A + i) : __ldg(S + (i - na));
        h ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    pdl_wait();
    if (h == 0x12345678u) p.out[0] = 1.0f; // keeps the loads
}

// ---- host
enum { V_CUR, V_PREG2, V_PREG4, V_CPA2_4, V_CPA4_3, V_CPA2_6, V_READ, NV };
static const char *vname[NV] = {"cur",        "preg U2",    "preg U4", "cpa U2 NS4",
                                "cpa U4 NS3", "cpa U2 NS6", "read"};

static int g_sms;

static size_t xbytes(int items) {
    return ((size_t)items * 32 + items * sizeof(xmeta) + 15) & ~(size_t)15;
}

template <typename K>
static void launch(K k, int grid, int block, size_t smem, const mv &p, cudaStream_t st) {
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = st;
    cfg.attrs = at;
    cfg.numAttrs = 1;
    CK(cudaLaunchKernelEx(&cfg, k, p));
}

// Persistent designs: as many blocks as are resident at once (occupancy with this shared memory).
template <typename K> static void persist(K k, size_t smem, const mv &p, cudaStream_t st) {
    CK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024));
    int b = 0;
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, k, 128, smem));
    const int blocks_needed = (p.rows / 2 + 3) / 4;
    launch(k, std::min(blocks_needed, b * g_sms), 128, smem, p, st);
}

static void run(int v, const mv &p, cudaStream_t st) {
    const size_t xb = xbytes(p.items);
    switch (v) {
    case V_CUR:
        CK(cudaFuncSetAttribute(k_cur, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024));
        launch(k_cur, (p.rows / 2 + 3) / 4, 128, xb, p, st);
        break;
    case V_PREG2:
        persist(k_preg<2>, xb, p, st);
        break;
    case V_PREG4:
        persist(k_preg<4>, xb, p, st);
        break;
    case V_CPA2_4:
        persist(k_cpa<2, 4>, xb + 4 * 4 * cpa_stage_bytes<2>(), p, st);
        break;
    case V_CPA4_3:
        persist(k_cpa<4, 3>, xb + 4 * 3 * cpa_stage_bytes<4>(), p, st);
        break;
    case V_CPA2_6:
        persist(k_cpa<2, 6>, xb + 4 * 6 * cpa_stage_bytes<2>(), p, st);
        break;
    case V_READ:
        launch(k_read, g_sms * 8, 256, 0, p, st);
        break;
    }
}

// The launches of `list` captured once as a graph (as tern replays a decode step), then timed:
// median of `reps` replays after two warm-ups, in microseconds.
static double time_graph(int v, const std::vector<mv> &list, cudaStream_t st, int reps) {
    cudaGraph_t g;
    cudaGraphExec_t ge;
    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
    for (const mv &p : list)
        run(v, p, st);
    CK(cudaStreamEndCapture(st, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    std::vector<float> ms;
    for (int r = 0; r < reps + 2; r++) {
        CK(cudaEventRecord(e0, st));
        CK(cudaGraphLaunch(ge, st));
        CK(cudaEventRecord(e1, st));
        CK(cudaEventSynchronize(e1));
        float t;
        CK(cudaEventElapsedTime(&t, e0, e1));
        if (r >= 2) ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    CK(cudaGraphExecDestroy(ge));
    CK(cudaGraphDestroy(g));
    return ms[ms.size() / 2] * 1e3;
}

int main() {
    CK(cudaDeviceGetAttribute(&g_sms, cudaDevAttrMultiProcessorCount, 0));
    const int n_layer = 32;
    struct shape {
        const char *name;
        int rows, n_in;
    } sh[4] = {{"qkv 6144x4096", 6144, 4096},
               {"o 4096x4096", 4096, 4096},
               {"gate+up 28672x4096", 28672, 4096},
               {"down 4096x14336", 4096, 14336}};
    std::vector<mv> ps;
    size_t total = 0;
    int8_t *x[2];
    xmeta *xm[2];
    float *out;
    CK(cudaMalloc(&out, 28672 * sizeof(float) * 2));
    for (int k = 0; k < 2; k++) {
        const int n = k ? 14336 : 4096;
        std::vector<int8_t> hx(n);
        std::vector<xmeta> hm(n / 32);
        for (int i = 0; i < n; i++)
            hx[i] = (int8_t)(rand() % 255 - 127);
        for (int i = 0; i < n / 32; i++) {
            int s = 0;
            for (int j = 0; j < 32; j++)
                s += hx[i * 32 + j];
            hm[i] = {0.01f, s};
        }
        CK(cudaMalloc(&x[k], n));
        CK(cudaMalloc(&xm[k], n / 32 * sizeof(xmeta)));
        CK(cudaMemcpy(x[k], hx.data(), n, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(xm[k], hm.data(), n / 32 * sizeof(xmeta), cudaMemcpyHostToDevice));
    }
    std::vector<uint8_t> h;
    for (int l = 0; l < n_layer; l++)
        for (int s = 0; s < 4; s++) {
            mv p;
            p.rows = sh[s].rows;
            p.items = sh[s].n_in / 32;
            const size_t na = (size_t)p.rows * p.items * 16, ns = (size_t)p.rows * p.items * 2;
            uint8_t *a;
            __half *sc;
            CK(cudaMalloc(&a, na));
            CK(cudaMalloc(&sc, ns));
            h.resize(na);
            for (size_t i = 0; i < na; i++)
                h[i] = (uint8_t)((i * 2654435761u) >> 13);
            CK(cudaMemcpy(a, h.data(), na, cudaMemcpyHostToDevice));
            std::vector<__half> hs(ns / 2, __float2half(0.02f));
            CK(cudaMemcpy(sc, hs.data(), ns, cudaMemcpyHostToDevice));
            p.a = a, p.s = sc;
            p.x = x[s == 3], p.xm = xm[s == 3];
            p.out = out;
            ps.push_back(p);
            total += na + ns;
        }
    cudaStream_t st;
    CK(cudaStreamCreate(&st));
    // correctness: every design's outputs against cur's, per shape
    std::vector<float> ref(28672), got(28672);
    int bad = 0;
    for (int s = 0; s < 4; s++) {
        run(V_CUR, ps[s], st);
        CK(cudaMemcpy(ref.data(), out, sh[s].rows * 4, cudaMemcpyDeviceToHost));
        for (int v = 1; v < V_READ; v++) {
            CK(cudaMemset(out, 0xff, sh[s].rows * 4));
            run(v, ps[s], st);
            CK(cudaMemcpy(got.data(), out, sh[s].rows * 4, cudaMemcpyDeviceToHost));
            double md = 0, mr = 0;
            for (int i = 0; i < sh[s].rows; i++) {
                const double d = fabs((double)got[i] - ref[i]);
                md = d == d ? std::max(md, d) : 1e30;
                mr = std::max(mr, (double)fabsf(ref[i]));
            }
            if (!(md <= 1e-3 * mr))
                printf("MISMATCH %s %s: max|d| %g (max|ref| %g)\n", vname[v], sh[s].name, md, mr),
                    bad++;
        }
    }
    CK(cudaDeviceSynchronize());
    printf("%d SMs; Q4_0 weights per decode step %.1f MB (%d layers); %s\n", g_sms, total / 1e6,
           n_layer, bad ? "OUTPUTS DIFFER" : "all designs' outputs agree (1e-3 of max)");
    printf("%-12s", "design");
    for (int s = 0; s < 4; s++)
        printf(" | %-22s", sh[s].name);
    printf(" | %-20s\n", "32-layer step");
    for (int v = 0; v < NV; v++) {
        printf("%-12s", vname[v]);
        for (int s = 0; s < 4; s++) { // one shape: its 32 layers' copies back to back in one graph
            std::vector<mv> list;
            for (int l = 0; l < n_layer; l++)
                list.push_back(ps[l * 4 + s]);
            const double us = time_graph(v, list, st, 9) / n_layer;
            const double bytes = (double)sh[s].rows * sh[s].n_in / 32 * 18;
            printf(" | %6.2f us %5.0f GB/s ", us, bytes / (us * 1e3));
        }
        const double us = time_graph(v, ps, st, 9);
        printf(" | %7.1f us %5.0f GB/s\n", us, total / (us * 1e3));
    }
    return 0;
}
