/* shm/rundir.h — the run directory every daemon shares (default
 * /run/ringstack): where region files, Unix sockets, stats regions and
 * locks live.
 *
 * Each daemon takes RUN_DIR/NAME.lock before it touches anything there: a
 * second nicd would format the pool under the first, a second netd would
 * produce on nicd's tx rings beside the first. The lock is an flock(2) on an
 * open file, so it dies with the process and a killed daemon never leaves it
 * held for its successor.
 */
#ifndef RINGSTACK_SHM_RUNDIR_H
#define RINGSTACK_SHM_RUNDIR_H

/* Create dir (mode 0755) if missing and take the exclusive lock
 * dir/NAME.lock. Returns the lock's fd (keep it open for the process's
 * life), -EBUSY if another process holds it, -ENAMETOOLONG, or -errno. */
int rundir_lock(const char *dir, const char *name);

#endif /* RINGSTACK_SHM_RUNDIR_H */
