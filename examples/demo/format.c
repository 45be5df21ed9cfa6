#include <stdio.h>
#include "calc.h"

void format_result(const char *expr, double value, char *out, size_t size) {
  snprintf(out, size, "%-16s = %g", expr, value);
}
