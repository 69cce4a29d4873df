/* tests/unit/test_rundir.c — shm/rundir: one daemon per name per run directory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "shm/rundir.h"

static void test_rundir_lock_excludes_a_second_process(void **state)
{
	char dir[] = "/tmp/ringstack-rundir-XXXXXX";
	char sub[64];
	int fd, status;
	pid_t pid;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/run", dir);        /* created on demand */
	fd = rundir_lock(sub, "netd");
	assert_true(fd >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)       /* another process: netd is taken, nicd is free */
		_exit(rundir_lock(sub, "netd") == -EBUSY && rundir_lock(sub, "nicd") >= 0 ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fd);          /* the lock dies with its holder */
	fd = rundir_lock(sub, "netd");
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(rundir_lock("/proc/nonexistent/dir", "x") < 0, 1);
	snprintf(sub, sizeof(sub), "rm -rf %s", dir);
	assert_int_equal(system(sub), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rundir_lock_excludes_a_second_process),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
