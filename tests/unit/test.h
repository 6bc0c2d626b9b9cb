/*
 * test.h - a minimal unit-test harness: TEST(name) defines a test, CHECK* record failures without stopping,
 * TEST_MAIN() runs them all and prints "N passed, N failed" as the closing line; exit status 1 on failure.
 * Usage:  TEST(vbi_roundtrip) { CHECK_EQ(f(1), 1); }   ...   TEST_MAIN()
 */
#ifndef RAMPART_TEST_H
#define RAMPART_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct test_case {
    const char *name;
    void (*fn)(void);
    struct test_case *next;
};

static struct test_case *test_list_head, **test_list_tail = &test_list_head;
static int test_current_failed;

#define TEST(name)                                                                                           \
    static void test_fn_##name(void);                                                                        \
    static struct test_case test_case_##name = {#name, test_fn_##name, NULL};                                \
    __attribute__((constructor)) static void test_reg_##name(void)                                           \
    {                                                                                                        \
        *test_list_tail = &test_case_##name;                                                                 \
        test_list_tail = &test_case_##name.next;                                                             \
    }                                                                                                        \
    static void test_fn_##name(void)

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);                       \
            test_current_failed = 1;                                                                         \
        }                                                                                                    \
    } while (0)

#define CHECK_EQ(a, b)                                                                                       \
    do {                                                                                                     \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                                      \
        if (check_a_ != check_b_) {                                                                          \
            fprintf(stderr, "  %s:%d: CHECK_EQ(%s, %s) failed: %lld != %lld (0x%llx != 0x%llx)\n", __FILE__, \
                    __LINE__, #a, #b, check_a_, check_b_, check_a_, check_b_);                               \
            test_current_failed = 1;                                                                         \
        }                                                                                                    \
    } while (0)

#define CHECK_MEM(a, b, n)                                                                                   \
    do {                                                                                                     \
        if (memcmp((a), (b), (n)) != 0) {                                                                    \
            fprintf(stderr, "  %s:%d: CHECK_MEM(%s, %s, %s) failed\n", __FILE__, __LINE__, #a, #b, #n);      \
            test_current_failed = 1;                                                                         \
        }                                                                                                    \
    } while (0)

#define CHECK_STR(a, b)                                                                                      \
    do {                                                                                                     \
        const char *check_sa_ = (a), *check_sb_ = (b);                                                       \
        if (!check_sa_ || !check_sb_ || strcmp(check_sa_, check_sb_) != 0) {                                 \
            fprintf(stderr, "  %s:%d: CHECK_STR(%s, %s) failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a,  \
                    #b, check_sa_ ? check_sa_ : "(null)", check_sb_ ? check_sb_ : "(null)");                 \
            test_current_failed = 1;                                                                         \
        }                                                                                                    \
    } while (0)

#define TEST_MAIN()                                                                                          \
    int main(int argc, char **argv)                                                                          \
    {                                                                                                        \
        int passed = 0, failed = 0;                                                                          \
        for (struct test_case *t = test_list_head; t; t = t->next) {                                         \
            if (argc > 1 && !strstr(t->name, argv[1]))                                                       \
                continue;                                                                                    \
            test_current_failed = 0;                                                                         \
            t->fn();                                                                                         \
            if (test_current_failed) {                                                                       \
                failed++;                                                                                    \
                fprintf(stderr, "FAIL %s\n", t->name);                                                       \
            } else {                                                                                         \
                passed++;                                                                                    \
            }                                                                                                \
        }                                                                                                    \
        printf("%s: %d passed, %d failed\n", argv[0], passed, failed);                                       \
        return failed ? 1 : 0;                                                                               \
    }

#endif
