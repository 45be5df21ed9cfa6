#include <ctype.h>
#include <stdlib.h>
#include "calc.h"

/* Evaluates a reverse-Polish expression such as "3 4 + 2 *". */
int evaluate_rpn(const char *text, double *result) {
  stack_t_ s = {0};
  const char *p = text;
  while (*p) {
    if (isspace((unsigned char)*p)) { p++; continue; }
    if (isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) {
      char *end;
      double v = strtod(p, &end);
      if (stack_push(&s, v)) return -1;
      p = end;
      continue;
    }
    double b, a;
    if (stack_pop(&s, &b) || stack_pop(&s, &a)) return -1;
    switch (*p) {
      case '+': a += b; break;
      case '-': a -= b; break;
      case '*': a *= b; break;
      case '/': a /= b; break;
      default: return -1;
    }
    if (stack_push(&s, a)) return -1;
    p++;
  }
  return (s.depth == 1 && stack_pop(&s, result) == 0) ? 0 : -1;
}
