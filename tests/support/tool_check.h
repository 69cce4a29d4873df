/* tests/support/tool_check.h — how the test tools (tests/tools/) report.
 *
 * A tool prints "ok WHO: step" per check passed and, at the first that
 * fails, "FAIL WHO: line N: what (errno ...)" and exits 1; the integration
 * scripts grep both. WHO is the tool's current scenario or role: the tool
 * defines `static const char *tool_who` and sets it.
 */
#ifndef RINGSTACK_TESTS_TOOL_CHECK_H
#define RINGSTACK_TESTS_TOOL_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...) do {                                                 \
		if (!(cond)) {                                                \
			printf("FAIL %s: line %d: ", tool_who, __LINE__);     \
			printf(__VA_ARGS__);                                  \
			printf(" (errno %d %s)\n", errno, strerror(errno));   \
			fflush(stdout);                                       \
			exit(1);                                              \
		}                                                             \
	} while (0)

#define ok(step) do {                                                         \
		printf("ok %s: %s\n", tool_who, (step));                      \
		fflush(stdout);                                               \
	} while (0)

#endif /* RINGSTACK_TESTS_TOOL_CHECK_H */
