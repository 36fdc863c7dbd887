// Runs every emulation test; exit status = number of failed checks (0: all passed).
// The one unit that defines the emulation's context switch.
#define MAXL_EMU_IMPLEMENTATION
#include "../../emu/emu.h"
#include <cstdio>
int test_elementwise();
int test_reduce();
int test_gemm();
int test_conv();
int test_pool();
int test_batchnorm();
int test_masked_softmax();
int test_focal_loss();

int main() {
    struct { const char* name; int (*f)(); } tests[] = {
        {"elementwise", test_elementwise}, {"reduce", test_reduce}, {"gemm", test_gemm},
        {"conv", test_conv}, {"pool", test_pool}, {"batchnorm", test_batchnorm},
        {"masked_softmax", test_masked_softmax}, {"focal_loss", test_focal_loss},
    };
    int failures = 0;
    for (auto& t : tests) {
        std::printf("== %s\n", t.name);
        std::fflush(stdout);
        failures += t.f();
        std::fflush(stdout);
    }
    std::printf("%d failed checks\n", failures);
    return failures == 0 ? 0 : 1;
}
