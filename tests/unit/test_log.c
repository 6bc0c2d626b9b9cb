/* Unit tests for src/base/log.c. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/log.h"
#include "test.h"

TEST(log_level_filters_and_file_receives_lines)
{
    char path[] = "/tmp/rampart-test-log-XXXXXX";
    int fd = mkstemp(path);
    char line[256] = {0};
    FILE *f;

    CHECK(fd >= 0);
    close(fd);
    log_set_stderr(0);
    CHECK_EQ(log_set_file(path), 0);
    log_set_level(LOG_LEVEL_WARNING);
    log_info("dropped %d", 1);
    log_warning("kept %d", 2);
    log_set_file(NULL);
    f = fopen(path, "r");
    CHECK(f != NULL);
    if (f) {
        CHECK(fgets(line, sizeof line, f) != NULL);
        CHECK(strstr(line, "warning: kept 2") != NULL);
        CHECK(fgets(line, sizeof line, f) == NULL);
        fclose(f);
    }
    unlink(path);
    CHECK_EQ(log_get_level(), LOG_LEVEL_WARNING);
}

TEST_MAIN()
