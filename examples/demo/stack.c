#include "calc.h"

int stack_push(stack_t_ *s, double v) {
  if (s->depth >= STACK_MAX) return -1;
  s->items[s->depth++] = v;
  return 0;
}

int stack_pop(stack_t_ *s, double *out) {
  if (s->depth == 0) return -1;
  *out = s->items[--s->depth];
  return 0;
}
