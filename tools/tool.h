/* The keel tool's commands, one file each; keel.c dispatches to them. Each
 * takes its own argv (argv[0] is the command's name) and returns the exit
 * status (0 ok, 1 not found / bad input, 2 usage or I/O error). */
#ifndef KEEL_TOOL_H
#define KEEL_TOOL_H

int cmd_strerror(int argc, char **argv);
int cmd_err(int argc, char **argv);

/* Prints "keel: usage: <synopsis>" and returns 2. */
int tool_usage(const char *synopsis);

#endif
