/* Reads a text file with stdio and reports its lines, words, and the sum of its numbers.
 * Built natively it reads the host's file; on shoal, the chip's file image. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "input.txt";
    FILE *f = fopen(name, "r");
    if (!f) { perror(name); return 1; }
    char line[256];
    long lines = 0, words = 0;
    double sum = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        int in = 0;
        for (char *p = line; *p; p++) {
            if (isspace((unsigned char)*p)) in = 0;
            else if (!in) { in = 1; words++; }
        }
        char *p = line, *end;
        while (*p) {
            double v = strtod(p, &end);
            if (end != p) { sum += v; p = end; } else p++;
        }
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    int c = fgetc(f);
    fclose(f);
    printf("%s: %ld bytes, %ld lines, %ld words, sum %.3f, first '%c'\n", name, size, lines, words, sum, c);
    return 0;
}
