/*
 * check_files.h - the file part of `rampart check -c FILE` (called by src/config/check.c after the
 * configuration parsed): every file the configuration names exists and is readable by the account the broker
 * will run as (`user`, default `rampart` else `nobody`; a reload re-reads them after the switch), and each
 * listener's certificate parses and matches its private key (OpenSSL).
 */
#ifndef RAMPART_TOOLS_CHECK_FILES_H
#define RAMPART_TOOLS_CHECK_FILES_H

#include <stdio.h>

struct rampart_config;

/* Prints one line per problem to out ("CONFIG: listener PORT: certfile PATH: what is wrong"). Returns the
 * number of problems (0 = all good). */
int check_files_run(const struct rampart_config *cfg, FILE *out);

#endif
