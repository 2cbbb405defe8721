/* Read stdin to EOF; print each line reversed with letters' case swapped, then totals. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void emit(const unsigned char *line, size_t n) {
    putchar('<');
    for (size_t i = n; i > 0; i--) {
        int c = line[i - 1];
        if (isupper(c))
            c = tolower(c);
        else if (islower(c))
            c = toupper(c);
        if (c < 32 || c >= 127)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    puts(">");
}

int main(void) {
    size_t cap = 64, len = 0, lines = 0, total = 0;
    unsigned long sum = 0;
    unsigned char *line = malloc(cap);
    char buf[1000];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, stdin)) > 0) {
        for (size_t i = 0; i < got; i++) {
            unsigned char c = (unsigned char)buf[i];
            total++;
            sum = sum * 31 + c;
            if (c == '\n') {
                emit(line, len);
                lines++;
                len = 0;
                continue;
            }
            if (len == cap) {
                cap *= 2;
                line = realloc(line, cap);
            }
            line[len++] = c;
        }
    }
    if (len > 0) {
        emit(line, len);
        lines++;
    }
    printf("lines %zu bytes %zu hash %08lx eof %d error %d\n", lines, total, sum & 0xffffffffUL,
           feof(stdin) != 0, ferror(stdin) != 0);
    free(line);
    return lines > 255 ? 255 : (int)lines;
}
