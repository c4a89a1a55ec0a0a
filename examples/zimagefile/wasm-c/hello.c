#include <stdio.h>

int main(void) {
    printf("hello from wasm\n");
    return 0;
}
