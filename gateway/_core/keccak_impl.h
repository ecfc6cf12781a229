/* keccak-256 as Ethereum uses it: the original Keccak padding (0x01 ... 0x80),
 * not NIST SHA3-256 (0x06 ... 0x80). Rate 136 bytes, capacity 512 bits.
 *
 * The permutation is unrolled by lane so the compiler keeps the state in
 * registers; rho and pi are fused with theta. Written for little-endian hosts
 * (x86-64, aarch64), which is every machine the gateway runs on.
 */
#ifndef GATEWAY_KECCAK_H
#define GATEWAY_KECCAK_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gateway keccak assumes a little-endian host"
#endif

#define KECCAK256_RATE 136
#define ROL64(v, n) (((v) << (n)) | ((v) >> (64 - (n))))

static const uint64_t KECCAK_RC[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808AULL,
    0x8000000080008000ULL, 0x000000000000808BULL, 0x0000000080000001ULL,
    0x8000000080008081ULL, 0x8000000000008009ULL, 0x000000000000008AULL,
    0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000AULL,
    0x000000008000808BULL, 0x800000000000008BULL, 0x8000000000008089ULL,
    0x8000000000008003ULL, 0x8000000000008002ULL, 0x8000000000000080ULL,
    0x000000000000800AULL, 0x800000008000000AULL, 0x8000000080008081ULL,
    0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

static inline void keccak_f1600(uint64_t *s)
{
    uint64_t a00, a01, a02, a03, a04, a05, a06, a07, a08, a09, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24;
    uint64_t b00, b01, b02, b03, b04, b05, b06, b07, b08, b09, b10, b11, b12, b13, b14, b15, b16, b17, b18, b19, b20, b21, b22, b23, b24;
    uint64_t c0, c1, c2, c3, c4, d0, d1, d2, d3, d4;
    a00 = s[0];
    a01 = s[1];
    a02 = s[2];
    a03 = s[3];
    a04 = s[4];
    a05 = s[5];
    a06 = s[6];
    a07 = s[7];
    a08 = s[8];
    a09 = s[9];
    a10 = s[10];
    a11 = s[11];
    a12 = s[12];
    a13 = s[13];
    a14 = s[14];
    a15 = s[15];
    a16 = s[16];
    a17 = s[17];
    a18 = s[18];
    a19 = s[19];
    a20 = s[20];
    a21 = s[21];
    a22 = s[22];
    a23 = s[23];
    a24 = s[24];
    for (int round = 0; round < 24; round++) {
        c0 = a00 ^ a05 ^ a10 ^ a15 ^ a20;
        c1 = a01 ^ a06 ^ a11 ^ a16 ^ a21;
        c2 = a02 ^ a07 ^ a12 ^ a17 ^ a22;
        c3 = a03 ^ a08 ^ a13 ^ a18 ^ a23;
        c4 = a04 ^ a09 ^ a14 ^ a19 ^ a24;
        d0 = c4 ^ ROL64(c1, 1);
        d1 = c0 ^ ROL64(c2, 1);
        d2 = c1 ^ ROL64(c3, 1);
        d3 = c2 ^ ROL64(c4, 1);
        d4 = c3 ^ ROL64(c0, 1);
        b00 = a00 ^ d0;
        b10 = ROL64(a01 ^ d1, 1);
        b20 = ROL64(a02 ^ d2, 62);
        b05 = ROL64(a03 ^ d3, 28);
        b15 = ROL64(a04 ^ d4, 27);
        b16 = ROL64(a05 ^ d0, 36);
        b01 = ROL64(a06 ^ d1, 44);
        b11 = ROL64(a07 ^ d2, 6);
        b21 = ROL64(a08 ^ d3, 55);
        b06 = ROL64(a09 ^ d4, 20);
        b07 = ROL64(a10 ^ d0, 3);
        b17 = ROL64(a11 ^ d1, 10);
        b02 = ROL64(a12 ^ d2, 43);
        b12 = ROL64(a13 ^ d3, 25);
        b22 = ROL64(a14 ^ d4, 39);
        b23 = ROL64(a15 ^ d0, 41);
        b08 = ROL64(a16 ^ d1, 45);
        b18 = ROL64(a17 ^ d2, 15);
        b03 = ROL64(a18 ^ d3, 21);
        b13 = ROL64(a19 ^ d4, 8);
        b14 = ROL64(a20 ^ d0, 18);
        b24 = ROL64(a21 ^ d1, 2);
        b09 = ROL64(a22 ^ d2, 61);
        b19 = ROL64(a23 ^ d3, 56);
        b04 = ROL64(a24 ^ d4, 14);
        a00 = b00 ^ (~b01 & b02);
        a01 = b01 ^ (~b02 & b03);
        a02 = b02 ^ (~b03 & b04);
        a03 = b03 ^ (~b04 & b00);
        a04 = b04 ^ (~b00 & b01);
        a05 = b05 ^ (~b06 & b07);
        a06 = b06 ^ (~b07 & b08);
        a07 = b07 ^ (~b08 & b09);
        a08 = b08 ^ (~b09 & b05);
        a09 = b09 ^ (~b05 & b06);
        a10 = b10 ^ (~b11 & b12);
        a11 = b11 ^ (~b12 & b13);
        a12 = b12 ^ (~b13 & b14);
        a13 = b13 ^ (~b14 & b10);
        a14 = b14 ^ (~b10 & b11);
        a15 = b15 ^ (~b16 & b17);
        a16 = b16 ^ (~b17 & b18);
        a17 = b17 ^ (~b18 & b19);
        a18 = b18 ^ (~b19 & b15);
        a19 = b19 ^ (~b15 & b16);
        a20 = b20 ^ (~b21 & b22);
        a21 = b21 ^ (~b22 & b23);
        a22 = b22 ^ (~b23 & b24);
        a23 = b23 ^ (~b24 & b20);
        a24 = b24 ^ (~b20 & b21);
        a00 ^= KECCAK_RC[round];
    }
    s[0] = a00;
    s[1] = a01;
    s[2] = a02;
    s[3] = a03;
    s[4] = a04;
    s[5] = a05;
    s[6] = a06;
    s[7] = a07;
    s[8] = a08;
    s[9] = a09;
    s[10] = a10;
    s[11] = a11;
    s[12] = a12;
    s[13] = a13;
    s[14] = a14;
    s[15] = a15;
    s[16] = a16;
    s[17] = a17;
    s[18] = a18;
    s[19] = a19;
    s[20] = a20;
    s[21] = a21;
    s[22] = a22;
    s[23] = a23;
    s[24] = a24;
}

static inline void keccak_absorb_blocks(uint64_t *s, const uint8_t *data, size_t nblocks)
{
    uint64_t lane;
    while (nblocks--) {
        for (int i = 0; i < KECCAK256_RATE / 8; i++) {
            memcpy(&lane, data + 8 * i, 8);
            s[i] ^= lane;
        }
        keccak_f1600(s);
        data += KECCAK256_RATE;
    }
}

/* Absorbs data (any length) into a state that may already hold whole blocks,
 * pads, and writes the 32-byte digest. Callers that hash many messages with
 * the same first block keep the state after it and start from a copy. */
static inline void keccak256_finish(uint64_t *s, const uint8_t *data, size_t len, uint8_t *out)
{
    uint8_t last[KECCAK256_RATE];
    size_t full = len / KECCAK256_RATE;

    keccak_absorb_blocks(s, data, full);
    data += full * KECCAK256_RATE;
    len -= full * KECCAK256_RATE;
    memset(last, 0, sizeof(last));
    if (len)
        memcpy(last, data, len);
    last[len] ^= 0x01;
    last[KECCAK256_RATE - 1] ^= 0x80;
    keccak_absorb_blocks(s, last, 1);
    memcpy(out, s, 32);
}

/* out receives 32 bytes. data may be NULL when len is 0. */
static inline void keccak256_raw(const uint8_t *data, size_t len, uint8_t *out)
{
    uint64_t s[25] = {0};
    keccak256_finish(s, data, len, out);
}

#endif
