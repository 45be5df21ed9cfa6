#ifndef CALC_H
#define CALC_H
#include <stddef.h>

#define STACK_MAX 64

typedef struct {
  double items[STACK_MAX];
  size_t depth;
} stack_t_;

int stack_push(stack_t_ *s, double v);
int stack_pop(stack_t_ *s, double *out);
int evaluate_rpn(const char *text, double *result);
void format_result(const char *expr, double value, char *out, size_t size);
#endif
