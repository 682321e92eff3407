/* ctl_render.c - one generic renderer for every ctl reply, so a new field
 * shows up in the text output without touching the client. */
#include "ctl/ctl_render.h"

#include <string.h>

static void scalar(FILE *out, json_t *v) {
  switch (json_typeof(v)) {
    case JSON_STRING: fputs(json_string_value(v), out); break;
    case JSON_INTEGER: fprintf(out, "%lld", (long long)json_integer_value(v)); break;
    case JSON_REAL: fprintf(out, "%g", json_real_value(v)); break;
    case JSON_TRUE: fputs("yes", out); break;
    case JSON_FALSE: fputs("no", out); break;
    default: fputs("-", out); break;
  }
}

static void inline_obj(FILE *out, json_t *o) {
  const char *k;
  json_t *v;
  int first = 1;
  json_object_foreach(o, k, v) {
    fprintf(out, "%s%s=", first ? "" : " ", k);
    if (json_is_object(v) || json_is_array(v)) {
      char *s = json_dumps(v, JSON_COMPACT);
      fputs(s ? s : "?", out);
      free(s);
    } else {
      scalar(out, v);
    }
    first = 0;
  }
}

static void render(FILE *out, json_t *o, int depth) {
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) {
    if (depth == 0 && !strcmp(k, "ok") && json_is_true(v)) continue;
    fprintf(out, "%*s%s:", depth * 2, "", k);
    if (json_is_object(v)) {
      fputc('\n', out);
      render(out, v, depth + 1);
    } else if (json_is_array(v)) {
      size_t i;
      json_t *e;
      fprintf(out, json_array_size(v) ? "\n" : " (none)\n");
      json_array_foreach(v, i, e) {
        fprintf(out, "%*s- ", depth * 2 + 2, "");
        if (json_is_object(e)) inline_obj(out, e);
        else scalar(out, e);
        fputc('\n', out);
      }
    } else {
      fputc(' ', out);
      scalar(out, v);
      fputc('\n', out);
    }
  }
}

void ctl_render_text(FILE *out, json_t *reply) { render(out, reply, 0); }
