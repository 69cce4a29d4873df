/* libsock/real.c — the real libc functions behind every wrapper.
 *
 * libsock is preloaded ahead of libc, so the names it exports shadow libc's;
 * each wrapper that passes a call through uses the next definition in the
 * lookup order, found once with dlsym(RTLD_NEXT). Resolution happens in the
 * constructor and, lazily, on the first wrapper call made before it (another
 * library's constructor may open a socket before ours runs).
 */
#include "libsock/libsock_internal.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

struct ls_real ls_real;
_Atomic int ls_real_ready;

static pthread_mutex_t real_lock = PTHREAD_MUTEX_INITIALIZER;

/* dlsym returns a data pointer; POSIX guarantees it converts to a function. */
#define RESOLVE(name) (*(void **)(&ls_real.name) = dlsym(RTLD_NEXT, #name))

static void resolve_all(void)
{
	RESOLVE(socket);      RESOLVE(socketpair);  RESOLVE(bind);
	RESOLVE(listen);      RESOLVE(accept);      RESOLVE(accept4);
	RESOLVE(connect);     RESOLVE(send);        RESOLVE(sendto);
	RESOLVE(sendmsg);     RESOLVE(recv);        RESOLVE(recvfrom);
	RESOLVE(recvmsg);     RESOLVE(read);        RESOLVE(write);
	RESOLVE(readv);       RESOLVE(writev);      RESOLVE(shutdown);
	RESOLVE(close);       RESOLVE(getsockname); RESOLVE(getpeername);
	RESOLVE(getsockopt);  RESOLVE(setsockopt);  RESOLVE(fcntl);
	RESOLVE(ioctl);       RESOLVE(poll);        RESOLVE(ppoll);
	RESOLVE(select);      RESOLVE(pselect);     RESOLVE(epoll_create);
	RESOLVE(epoll_create1); RESOLVE(epoll_ctl); RESOLVE(epoll_wait);
	RESOLVE(epoll_pwait); RESOLVE(dup);         RESOLVE(dup2);
	RESOLVE(dup3);        RESOLVE(sendfile);
	RESOLVE(fork);
}

/* Resolve every entry of ls_real; idempotent and thread-safe. A libc without
 * one of these is not one libsock can run on: say so and stop, since every
 * later call through a NULL pointer would crash less helpfully. */
void ls_real_init(void)
{
	pthread_mutex_lock(&real_lock);
	if (!atomic_load_explicit(&ls_real_ready, memory_order_relaxed)) {
		resolve_all();
		if (!ls_real.socket || !ls_real.close || !ls_real.read || !ls_real.ppoll) {
			static const char msg[] = "ringstack: libsock cannot resolve libc's socket calls\n";

			(void)!syscall(SYS_write, 2, msg, sizeof(msg) - 1);
			_exit(127);
		}
		/* Release: pairs with the acquire load in ls_real_get(). */
		atomic_store_explicit(&ls_real_ready, 1, memory_order_release);
	}
	pthread_mutex_unlock(&real_lock);
}

__attribute__((constructor)) static void ls_real_ctor(void)
{
	ls_real_init();
}
