/* hardening.c - see hardening.h. */
#include "security/hardening.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

/* Frees the strings of one listener. */
static void listener_free(struct hardening_listener *l)
{
    free(l->bind);
    free(l->certfile);
    free(l->keyfile);
    free(l->cafile);
    free(l->capath);
    free(l->crlfile);
    free(l->tls_version);
    free(l->ciphers);
    for (size_t i = 0; i < l->n_sources; i++)
        free(l->sources[i]);
}

void hardening_free(struct hardening_view *v)
{
    for (size_t i = 0; i < v->n_listeners; i++)
        listener_free(&v->listeners[i]);
    for (size_t i = 0; i < v->n_read_paths; i++)
        free(v->read_paths[i]);
    for (size_t i = 0; i < v->n_write_paths; i++)
        free(v->write_paths[i]);
    free(v->config_path);
    free(v->user);
    free(v->password_file);
    free(v->acl_file);
    free(v->cluster_node_name);
    free(v->pid_file);
    memset(v, 0, sizeof *v);
}

int hardening_policy(const struct hardening_view *v, struct sandbox_policy *p, char *err, size_t errlen)
{
    sandbox_policy_init(p);
    p->user_mode = v->user ? SANDBOX_USER_NAMED : SANDBOX_USER_DEFAULT;
    p->user = v->user;
    p->landlock = v->landlock;
    p->seccomp = v->seccomp;
    for (size_t i = 0; i < v->n_read_paths; i++)
        if (sandbox_policy_add_read(p, v->read_paths[i]) != 0)
            goto full;
    for (size_t i = 0; i < v->n_write_paths; i++)
        if (sandbox_policy_add_write(p, v->write_paths[i]) != 0)
            goto full;
    for (size_t i = 0; i < v->n_listeners; i++)
        if (sandbox_policy_add_port(p, v->listeners[i].port) != 0)
            goto full;
    return 0;
full:
    snprintf(err, errlen, "sandbox: too many paths or ports (at most %d and %d)", SANDBOX_MAX_PATHS,
             SANDBOX_MAX_PORTS);
    return -1;
}
