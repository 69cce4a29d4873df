/* sockd/policy.c — who a peer is and what it may do.
 *
 * Where it sits: at admission, once per app. Identity comes from the kernel
 * (SO_PEERCRED, and a pidfd from SO_PEERPIDFD), never from the hello. Policy
 * today is two things: quotas (apps per uid and in all) and APP_F_BIND_PRIV,
 * which netd enforces for ports below 1024 as the kernel does with
 * CAP_NET_BIND_SERVICE.
 *
 * Reading another process's /proc entries races with its exit and the reuse
 * of its pid. The pidfd closes the race: it names the process itself, so
 * "still alive after the read" (the pidfd not yet readable) proves the
 * /proc entry we read was that process's.
 */
#include <errno.h>
#include <linux/capability.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sockd/sockd.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77          /* Linux 6.5; glibc 2.36's headers lack it */
#endif

#define STATUS_LINES_MAX 256     /* /proc/PID/status lines read at most */

/* A pidfd for the peer: SO_PEERPIDFD names the process that connected, even
 * if it has exited since; pidfd_open(pid) on older kernels could name a
 * newcomer that reused the pid (a window of microseconds, accepted there). */
static int peer_pidfd(int sock, pid_t pid)
{
	int pidfd = -1;
	socklen_t len = sizeof(pidfd);

	if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && pidfd >= 0)
		return pidfd;
	if (errno != ENOPROTOOPT && errno != EINVAL)
		return -errno;
	pidfd = pidfd_open(pid, 0);
	return pidfd < 0 ? -errno : pidfd;
}

int sockd_peer_creds(struct sockd_app *a)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	int pidfd;

	if (getsockopt(a->fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	if (uc.pid <= 0)             /* a peer in a pid namespace we cannot see */
		return -ESRCH;
	pidfd = peer_pidfd(a->fd, uc.pid);
	if (pidfd < 0)
		return pidfd;
	a->pid = (uint32_t)uc.pid;
	a->uid = uc.uid;
	a->gid = uc.gid;
	a->pidfd = pidfd;
	return 0;
}

/* Whether pid lives in sockd's user namespace. A process in a user
 * namespace of its own has every capability there (unshare -Ur), but not
 * over the stack netd runs for the host: only caps in ours count. */
static bool same_userns(uint32_t pid)
{
	char path[64];
	struct stat ours, theirs;

	snprintf(path, sizeof(path), "/proc/%u/ns/user", pid);
	if (stat("/proc/self/ns/user", &ours) < 0 || stat(path, &theirs) < 0)
		return false;        /* cannot tell (not allowed to look): no privilege */
	return ours.st_dev == theirs.st_dev && ours.st_ino == theirs.st_ino;
}

/* The "CapEff:\t<hex>" line of /proc/PID/status. 0 or -errno. */
static int read_capeff(uint32_t pid, uint64_t *capeff)
{
	char path[64], *line = NULL, *end;
	size_t cap = 0;
	int err = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	for (int n = 0; n < STATUS_LINES_MAX && getline(&line, &cap, f) > 0; n++) {
		if (strncmp(line, "CapEff:", 7) != 0)
			continue;
		errno = 0;
		*capeff = strtoull(line + 7, &end, 16);
		err = (errno || end == line + 7 || (*end != '\n' && *end != '\0')) ? -EINVAL : 0;
		break;
	}
	free(line);
	fclose(f);
	return err;
}

/* A pidfd polls readable once its process has exited. */
static bool pidfd_alive(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) == 0;
}

uint32_t sockd_policy_flags(const struct sockd_app *a)
{
	uint64_t capeff = 0;

	if (!same_userns(a->pid) || read_capeff(a->pid, &capeff) < 0)
		return 0;
	/* read after the reads: a reused pid would have shown another process */
	if (!pidfd_alive(a->pidfd))
		return 0;
	return (capeff >> CAP_NET_BIND_SERVICE) & 1 ? APP_F_BIND_PRIV : 0;
}

int sockd_quota_check(const struct sockd *sd, uint32_t uid, enum sockd_counter *why)
{
	unsigned all = 0, mine = 0;

	for (unsigned i = 0; i < sd->nslots; i++) {
		const struct sockd_app *a = &sd->apps[i];

		if (a->state != SOCKD_SLOT_PENDING && a->state != SOCKD_SLOT_LIVE)
			continue;
		all++;
		mine += a->uid == uid;
	}
	if (all >= sd->cfg.max_apps) {
		*why = SOCKD_REFUSED_QUOTA_ALL;
		return -EUSERS;
	}
	if (mine >= sd->cfg.max_per_uid) {
		*why = SOCKD_REFUSED_QUOTA_UID;
		return -EUSERS;
	}
	return 0;
}
