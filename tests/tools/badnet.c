/* badnet: a user-space stand-in for `tc netem`, for kernels without sch_netem. It joins two
 * TUN devices and forwards IP packets between them with loss, duplication, delay and jitter
 * (jitter reorders), so that tests/bats/netem.bats can impair a link between namespaces.
 *
 * usage: badnet TUN_A TUN_B PARAMS_FILE
 * Creates TUN_A and TUN_B (the caller moves them into namespaces and addresses them), prints
 * "ready" on stdout, and forwards until killed. PARAMS_FILE holds
 * "loss_pct dup_pct delay_ms jitter_ms down" and is re-read on SIGHUP; down=1 drops
 * everything (a cut link). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_PKT 65536
#define MAX_QUEUE 4096

struct packet {
	long long due_us;
	int to;      /* fd to write to */
	size_t len;
	unsigned char *data;
};

static struct packet queue[MAX_QUEUE];
static size_t queued;
static volatile sig_atomic_t reload = 1;
static double loss, dup_pct;
static int delay_ms, jitter_ms, down;

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int tun_open(const char *name)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void on_hup(int sig)
{
	(void)sig;
	reload = 1;
}

static void read_params(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	int d = 0;
	if (fscanf(f, "%lf %lf %d %d %d", &loss, &dup_pct, &delay_ms, &jitter_ms, &d) >= 4)
		down = d;
	fclose(f);
}

static void enqueue(int to, const unsigned char *data, size_t len)
{
	if (queued == MAX_QUEUE)
		return; /* a full queue drops, as a real one does */
	int extra = jitter_ms > 0 ? rand() % (2 * jitter_ms + 1) - jitter_ms : 0;
	int ms = delay_ms + extra < 0 ? 0 : delay_ms + extra;
	unsigned char *copy = malloc(len);
	if (!copy)
		return;
	memcpy(copy, data, len);
	queue[queued++] = (struct packet){ now_us() + (long long)ms * 1000, to, len, copy };
}

static void flush_due(void)
{
	long long t = now_us();
	for (size_t i = 0; i < queued;) {
		if (queue[i].due_us <= t) {
			if (write(queue[i].to, queue[i].data, queue[i].len) < 0) {
				/* a device that is down refuses: the packet is lost */
			}
			free(queue[i].data);
			queue[i] = queue[--queued]; /* order is not kept: that is the point */
		} else {
			i++;
		}
	}
}

static int next_timeout_ms(void)
{
	if (!queued)
		return 200;
	long long t = now_us(), best = queue[0].due_us;
	for (size_t i = 1; i < queued; i++)
		if (queue[i].due_us < best)
			best = queue[i].due_us;
	return best <= t ? 0 : (int)((best - t + 999) / 1000);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: badnet TUN_A TUN_B PARAMS_FILE\n");
		return 2;
	}
	int a = tun_open(argv[1]), b = tun_open(argv[2]);
	if (a < 0 || b < 0) {
		fprintf(stderr, "badnet: cannot create TUN devices: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGHUP, on_hup);
	srand((unsigned)getpid());
	printf("ready\n");
	fflush(stdout);
	static unsigned char buf[MAX_PKT];
	for (;;) {
		if (reload) {
			reload = 0;
			read_params(argv[3]);
		}
		struct pollfd fds[2] = { { a, POLLIN, 0 }, { b, POLLIN, 0 } };
		int n = poll(fds, 2, next_timeout_ms());
		if (n < 0 && errno != EINTR)
			return 1;
		for (int i = 0; n > 0 && i < 2; i++) {
			if (!(fds[i].revents & POLLIN))
				continue;
			ssize_t len;
			while ((len = read(fds[i].fd, buf, sizeof(buf))) > 0) {
				int to = i == 0 ? b : a;
				if (down || rand() % 10000 < (int)(loss * 100))
					continue;
				enqueue(to, buf, (size_t)len);
				if (rand() % 10000 < (int)(dup_pct * 100))
					enqueue(to, buf, (size_t)len);
			}
		}
		flush_due();
	}
}
