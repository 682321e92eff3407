/* replay_facts.h - the replay's facts as one JSON tree */
#ifndef MF_REPLAY_FACTS_H
#define MF_REPLAY_FACTS_H

#include <jansson.h>

struct replay_run;

/* Everything a report shows; caller frees with json_decref(). */
json_t *replay_facts(struct replay_run *run);

#endif
