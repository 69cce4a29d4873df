/* netd/config.c — netd's configuration: flags, and a key = value file.
 *
 * Where it sits: before anything else runs. Every key of the file is the
 * name of a long flag ("addr = 10.0.0.2/24" is --addr 10.0.0.2/24); the file
 * named by --config is read first and the other flags override it, so one
 * function (config_set) gives every setting its meaning and its check.
 * Defaults are chosen for a small machine; docs/NETD.md lists them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "netd/netd.h"

static const struct option opts[] = {
	{ "config", 1, 0, 'c' }, { "run-dir", 1, 0, 'd' }, { "addr", 1, 0, 'a' },
	{ "gateway", 1, 0, 'g' }, { "mac", 1, 0, 'm' }, { "mtu", 1, 0, 'M' },
	{ "engines", 1, 0, 'e' }, { "budget", 1, 0, 'b' }, { "spin-us", 1, 0, 's' },
	{ "nic-timeout-ms", 1, 0, 't' }, { "max-conns", 1, 0, 'C' },
	{ "tcp-buf", 1, 0, 'B' }, { "fresh-state", 0, 0, 'F' }, { "rt-prio", 1, 0, 'x' },
	{ "slice-us", 1, 0, 'l' }, { "help", 0, 0, 'h' },
	{ 0, 0, 0, 0 } };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: netd --addr A.B.C.D/LEN [options]\n"
		"  --config FILE        key = value file; keys are these flags' names\n"
		"  --run-dir DIR        nicd's run directory (default %s)\n"
		"  --addr A/LEN         our IPv4 address and prefix (required)\n"
		"  --gateway A          default gateway (default none)\n"
		"  --mac XX:..:XX       our MAC (default: random, locally administered)\n"
		"  --mtu N              (default: the device's, from nicd)\n"
		"  --engines N          engines, one per nicd queue (default: all queues)\n"
		"  --budget N           frames per engine pass (default %u)\n"
		"  --spin-us N          longest idle spin before sleeping (default %u)\n"
		"  --nic-timeout-ms N   nicd heartbeat stall that counts as lost (default %u)\n"
		"  --max-conns N        TCP connections per engine (default 1024)\n"
		"  --tcp-buf BYTES      TCP send/receive buffer, a power of two (default 256 KiB)\n"
		"  --fresh-state        format the TCP state even if it could be re-attached\n"
		"  --rt-prio N          engines' SCHED_FIFO priority, dropped to SCHED_OTHER while\n"
		"                       an engine uses half a CPU (shm/rtsched.h); 0: SCHED_OTHER\n"
		"                       (default %u)\n"
		"  --slice-us N         EEVDF slice under SCHED_OTHER, 100..100000 or 0 for the\n"
		"                       kernel's (default %u)\n",
		NIC_RUN_DIR_DEFAULT, NETD_BUDGET_DEF, NETD_SPIN_US_DEF, NETD_NIC_TIMEOUT_DEF,
		NETD_RT_PRIO_DEF, NETD_SLICE_US_DEF);
}

/* A number in [lo, hi], or -ERANGE/-EINVAL. */
static int parse_num(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (*s == '\0' || *end != '\0' || errno)
		return -EINVAL;
	if (v < lo || v > hi)
		return -ERANGE;
	*out = v;
	return 0;
}

/* "a.b.c.d" to host order; when len is given, "a.b.c.d/len" too (no /len: 32). */
static int parse_addr(const char *s, uint32_t *addr, uint8_t *len)
{
	char buf[32];
	char *slash;
	unsigned long l = 32;
	struct in_addr a;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		if (!len || parse_num(slash + 1, 1, 32, &l) < 0)
			return -EINVAL;
	}
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	*addr = ntohl(a.s_addr);
	if (len)
		*len = (uint8_t)l;
	return 0;
}

static int parse_mac(const char *s, uint8_t *mac)
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4],
		   &v[5], &tail) != 6 || (v[0] & 1))
		return -EINVAL;          /* a multicast MAC is no host's */
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

/* Give option `o` (its short letter) the value s. Returns 0 or -errno. */
static int config_set(struct netd_config *c, int o, const char *s)
{
	unsigned long v = 0;
	int err = 0;

	switch (o) {
	case 'd': err = strlen(s) < sizeof(c->run_dir) ? 0 : -ENAMETOOLONG;
		  if (!err) strcpy(c->run_dir, s);
		  break;
	case 'a': err = parse_addr(s, &c->stack.addr, &c->stack.prefix_len);
		  c->have_addr = err == 0;
		  break;
	case 'g': err = parse_addr(s, &c->stack.gateway, NULL); break;
	case 'm': err = parse_mac(s, c->stack.mac); c->have_mac = err == 0; break;
	case 'M': err = parse_num(s, 576, 9000, &v); c->stack.mtu = (uint16_t)v; break;
	case 'e': err = parse_num(s, 1, NETD_ENGINES_MAX, &v); c->engines = (unsigned)v; break;
	case 'b': err = parse_num(s, 1, 4096, &v); c->budget = (unsigned)v; break;
	case 's': err = parse_num(s, 0, 1000000, &v); c->spin_us = (unsigned)v; break;
	case 't': err = parse_num(s, 200, 600000, &v); c->nic_timeout_ms = (unsigned)v; break;
	case 'C': err = parse_num(s, 1, 1u << 20, &v); c->max_conns = (uint32_t)v; break;
	case 'B': err = parse_num(s, 4096, 1u << 26, &v); c->tcp_buf = (uint32_t)v;
		  if (!err && (v & (v - 1))) err = -EINVAL;
		  break;
	case 'F': c->fresh_state = s == NULL || strcmp(s, "false") != 0; break;
	case 'x': err = parse_num(s, 0, 99, &v); c->rt_prio = (unsigned)v; break;
	case 'l': err = parse_num(s, 0, 100000, &v); c->slice_us = (unsigned)v;
		  if (!err && v != 0 && v < 100) err = -ERANGE;   /* the kernel takes 100..100000 */
		  break;
	default: err = -ENOENT; break;
	}
	return err;
}

static int opt_letter(const char *name)
{
	for (const struct option *o = opts; o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o->val;
	return 0;
}

/* Trim leading and trailing blanks in place. */
static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Read "key = value" lines; '#' starts a comment. Exits on an error. */
static void config_file(struct netd_config *c, const char *path)
{
	FILE *f = fopen(path, "re");
	char line[512];
	unsigned n = 0;

	if (!f) {
		netd_log(NETD_ERR, "config %s: %s", path, strerror(errno));
		exit(2);
	}
	while (fgets(line, sizeof(line), f)) {
		char *hash = strchr(line, '#'), *eq, *key;

		n++;
		if (hash)
			*hash = '\0';
		key = trim(line);
		if (*key == '\0')
			continue;
		eq = strchr(key, '=');
		if (eq)
			*eq = '\0';
		if (!eq || config_set(c, opt_letter(trim(key)), trim(eq + 1)) < 0) {
			netd_log(NETD_ERR, "config %s:%u: bad line (key = value, keys as the flags)",
				 path, n);
			exit(2);
		}
	}
	fclose(f);
}

static void config_defaults(struct netd_config *c)
{
	*c = (struct netd_config){ .budget = NETD_BUDGET_DEF, .spin_us = NETD_SPIN_US_DEF,
				   .nic_timeout_ms = NETD_NIC_TIMEOUT_DEF, .rt_prio = NETD_RT_PRIO_DEF,
				   .slice_us = NETD_SLICE_US_DEF };
	strcpy(c->run_dir, NIC_RUN_DIR_DEFAULT);
	/* keys for IP IDs, ISNs and cookies: unpredictable per boot of the stack */
	if (getrandom(c->stack.secret, sizeof(c->stack.secret), 0) != sizeof(c->stack.secret))
		c->stack.secret[0] = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
	if (getrandom(c->stack.mac, sizeof(c->stack.mac), 0) != sizeof(c->stack.mac))
		c->stack.mac[5] = (uint8_t)getpid();
	/* The TAP's own MAC is the kernel side's: ours must differ. Locally
	 * administered (bit 1), unicast (bit 0 clear): IEEE 802 section 8.2. */
	c->stack.mac[0] = (uint8_t)((c->stack.mac[0] & 0xfc) | 0x02);
}

void netd_config_parse(struct netd_config *c, int argc, char **argv)
{
	int o, idx;

	config_defaults(c);
	for (int i = 1; i + 1 < argc; i++)          /* the file first: flags win */
		if (strcmp(argv[i], "--config") == 0)
			config_file(c, argv[i + 1]);
	while ((o = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		if (o == 'h') {
			usage(stdout);
			exit(0);
		}
		if (o == '?' || (o != 'c' && config_set(c, o, optarg) < 0)) {
			if (o != '?')
				netd_log(NETD_ERR, "--%s %s: bad value", opts[idx].name,
					 optarg ? optarg : "");
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc || !c->have_addr) {
		netd_log(NETD_ERR, optind != argc ? "unexpected argument %s" : "--addr is required%s",
			 optind != argc ? argv[optind] : "");
		usage(stderr);
		exit(2);
	}
}
