/* ctl_render.h - JSON replies of the control socket as readable text */
#ifndef MF_CTL_RENDER_H
#define MF_CTL_RENDER_H

#include <jansson.h>
#include <stdio.h>

/* Print a reply as indented "key: value" lines; arrays of objects become
 * one line per element. */
void ctl_render_text(FILE *out, json_t *reply);

#endif
