/* subcmd.h - the commands beside mining: `ghaminer merge` and `ghaminer shard`. Each parses
 * its own options and returns the process exit code (enum exit_code). */
#ifndef GHAMINER_SUBCMD_H
#define GHAMINER_SUBCMD_H

/* argv[0] is the command's name. */
int subcmd_merge(int argc, char **argv);
int subcmd_shard(int argc, char **argv);

#endif
