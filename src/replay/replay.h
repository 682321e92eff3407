/* replay.h - `mailfuse replay`: old logs through the live engine */
#ifndef MF_REPLAY_H
#define MF_REPLAY_H

/* Run `mailfuse replay ...` (argv[0] is "replay"); returns the exit status. */
int replay_main(int argc, char **argv);

#endif
