/* cpdtls.h - cpd's TLS path (cpdtls.c): the GnuTLS module loaded on demand
 * and the session served through it. */
#ifndef CP_CPDTLS_H
#define CP_CPDTLS_H

#include "cpdopt.h"

/* Serve the connection in_fd/out_fd, whose first byte (peeked, not read)
 * starts a TLS handshake. Returns cpd's exit status (CPD_EXIT_*). */
int cpd_serve_tls(struct cpd_options *o, int in_fd, int out_fd);

#endif
