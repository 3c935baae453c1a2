/* admin.c - main() of rustmq-admin, the admin CLI and standalone REST API
 * server; everything is in src/admin/cli.c. */
#include "admin/cli.h"

int main(int argc, char **argv) { return rmq_admin_cli_main(argc, argv); }
