/* Host check of turbo3-hi-layout.patch (bench/cuda/pending): packs random 3-bit codes with the
 * patched tn_turbo_pack and extracts every pair's table offset the way the patched tq_dec_tc
 * does (V: tt_decode8's lane halves; K: tt_k_offsets for every t4 and kk), against the codes.
 * After `git apply bench/cuda/pending/turbo3-hi-layout.patch && make build/libtern.a`:
 *   gcc -std=c11 -Iinclude -Isrc bench/cuda/pending/turbo3_layout_emu.c build/libtern.a \
 *       -lm -lpthread -lpcre2-8 -o /tmp/emu && /tmp/emu     (here: 384000 checks, 0 bad) */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kv/turbo.h"
static uint32_t rotr(uint32_t x, int n) { n &= 31; return n ? (x >> n) | (x << (32 - n)) : x; }
static uint32_t sel(uint32_t x, uint32_t y, uint32_t m) { return (x & m) | (y & ~m); }
static uint32_t off3(uint32_t lo, uint32_t hi, int n) { return rotr(sel(lo, hi, 0xFu << (4 * n)), 4 * n - 2) & 0xFCu; }
static uint32_t want(const uint8_t *c, int dim) { /* pair of dims dim, dim+1 */
    int a = c[dim], b = c[dim + 1];
    return (uint32_t)((a & 3) | (b & 3) << 2 | (a >> 2) << 4 | (b >> 2) << 5);
}
int main(void) {
    int bad = 0, checks = 0;
    srand(1);
    for (int D = 64; D <= 128; D *= 2)
        for (int trial = 0; trial < 2000; trial++) {
            uint8_t c[128], bytes[64];
            for (int i = 0; i < D; i++) c[i] = rand() & 7;
            memset(bytes, 0, sizeof bytes);
            tn_turbo_pack(3, D, c, bytes);
            uint8_t back[128];
            tn_turbo_unpack(3, D, bytes, back);
            if (memcmp(back, c, D)) bad++;
            uint32_t row[16];
            memcpy(row, bytes, D * 3 / 8);
            /* V: lane (r, hf) */
            const int LOW = D / 16, HL = LOW / 2, HH = D / 64;
            for (int hf = 0; hf < 2; hf++) {
                uint32_t w[16];
                for (int j = 0; j < HL; j++) w[j] = row[hf * HL + j];
                for (int j = 0; j < HH; j++) w[HL + j] = row[LOW + hf * HH + j];
                const uint32_t *lo = w, *hi = w + HL;
                for (int k = 0; k < D / 16; k++)
                    for (int j = 0; j < 4; j++) {
                        const uint32_t h = hi[k >> 2];
                        uint32_t o = off3(lo[k >> 1], (k >> 1) & 1 ? rotr(h, 2) : h, 4 * (k & 1) + j);
                        int dim = hf * (D / 2) + 8 * k + 2 * j;
                        checks++;
                        if (o != 4 * want(c, dim)) bad++;
                    }
            }
            /* K: lane t4, fragment kk */
            for (int t4 = 0; t4 < 4; t4++)
                for (int kk = 0; kk < D / 16; kk++) {
                    const uint32_t l0 = row[kk];
                    uint32_t h0 = row[D / 16 + (kk >> 1)];
                    if (kk & 1) h0 = rotr(h0, 2);
                    const uint32_t m = 0xFu << (4 * t4);
                    const int a = 4 * t4 - 2;
                    uint32_t p0 = rotr(sel(l0, h0, m), a) & 0xFCu, p2 = rotr(sel(l0, h0, m << 16), a + 16) & 0xFCu;
                    checks += 2;
                    if (p0 != 4 * want(c, 16 * kk + 2 * t4)) bad++;
                    if (p2 != 4 * want(c, 16 * kk + 8 + 2 * t4)) bad++;
                }
        }
    printf("checks %d bad %d\n", checks, bad);
    return bad != 0;
}
