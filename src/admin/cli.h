/* cli.h - the rustmq-admin command line (src/bin/admin.c only calls this).
 * Commands run against the REST API (--api-url, via libcurl) or directly
 * against a cluster over the Kafka protocol (--bootstrap: the REST API core
 * runs in-process on the Kafka backend), so both transports print the same
 * tables and the same --json documents. Exit codes: see RMQ_CLI_EXIT_*. */
#ifndef RMQ_ADMIN_CLI_H
#define RMQ_ADMIN_CLI_H

enum {
    RMQ_CLI_EXIT_OK = 0,
    RMQ_CLI_EXIT_ERROR = 1,    /* the cluster refused or failed the request */
    RMQ_CLI_EXIT_USAGE = 2,    /* bad command line */
    RMQ_CLI_EXIT_CONNECT = 3,  /* cannot connect, timed out, or cluster unavailable (503) */
    RMQ_CLI_EXIT_NOTFOUND = 4, /* the named topic / group / broker does not exist */
};

int rmq_admin_cli_main(int argc, char **argv);

#endif
