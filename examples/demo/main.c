#include <stdio.h>
#include "calc.h"

int main(void) {
  const char *exprs[] = {"3 4 +", "2 3 4 * +", "10 4 - 3 /", "1.5 2 *"};
  char line[128];
  for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
    double v;
    if (evaluate_rpn(exprs[i], &v) != 0) {
      fprintf(stderr, "bad expression: %s\n", exprs[i]);
      return 1;
    }
    format_result(exprs[i], v, line, sizeof line);
    puts(line);
  }
  return 0;
}
