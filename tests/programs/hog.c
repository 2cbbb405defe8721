/* A program whose initialized data (3 MiB) cannot fit in a cluster's memory. */
char big[3 << 20] = {1};

int main(int argc, char **argv) {
    (void)argv;
    return big[argc * 12345];
}
