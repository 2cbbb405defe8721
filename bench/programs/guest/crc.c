/* CRC-32 (byte-wise table) over a buffer, many passes: short blocks, integer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint32_t table[256];

int main(int argc, char **argv) {
    int passes = argc > 1 ? atoi(argv[1]) : 100;
    static uint8_t buf[65536];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    uint32_t x = 12345;
    for (unsigned i = 0; i < sizeof buf; i++) { x = x * 1103515245u + 12345u; buf[i] = x >> 16; }
    uint32_t crc = 0;
    for (int p = 0; p < passes; p++) {
        uint32_t c = ~crc;
        for (unsigned i = 0; i < sizeof buf; i++) c = table[(c ^ buf[i]) & 0xff] ^ (c >> 8);
        crc = ~c;
    }
    printf("crc %08x\n", (unsigned)crc);
    return 0;
}
