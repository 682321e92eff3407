/* ctl_client.h - `mailfuse ctl`: talk to a running daemon */
#ifndef MF_CTL_CLIENT_H
#define MF_CTL_CLIENT_H

/* Run `mailfuse ctl ...` (argv[0] is "ctl"); returns the exit status. */
int ctl_main(int argc, char **argv);

#endif
