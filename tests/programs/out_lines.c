/* 2,000 numbered lines on stdout: what a run stopped at the process's end must all have. */
#include <stdio.h>
int main(void) { for (int i = 0; i < 2000; i++) printf("line %d of the output\n", i); return 0; }
