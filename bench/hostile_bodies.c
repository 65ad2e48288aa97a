/* Hostile-client load for `umapsync serve`: N connections each send a push's headers and
 * all but the last byte of a large body, then wait; prints the server's resident memory.
 * Usage: hostile_bodies PORT SERVER_PID CONNECTIONS BODY_BYTES [TOKEN]. See hostile_bodies.sh. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* "VmRSS" and "VmHWM" of a process, in KiB. */
static void print_memory(const char *pid, const char *when)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	FILE *f = fopen(path, "r");
	if (!f) {
		printf("%s: cannot read %s\n", when, path);
		return;
	}
	long rss = -1, hwm = -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "VmRSS:", 6))
			rss = strtol(line + 6, NULL, 10);
		else if (!strncmp(line, "VmHWM:", 6))
			hwm = strtol(line + 6, NULL, 10);
	}
	fclose(f);
	printf("%s: server RSS %.1f MiB (peak %.1f MiB)\n", when, rss / 1024.0, hwm / 1024.0);
}

static int send_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: hostile_bodies PORT SERVER_PID CONNECTIONS BODY_BYTES [TOKEN]\n");
		return 2;
	}
	int port = atoi(argv[1]), nconn = atoi(argv[3]);
	size_t body = strtoull(argv[4], NULL, 10);
	const char *token = argc > 5 ? argv[5] : NULL;
	char *filler = malloc(body);
	int *fds = calloc((size_t)nconn, sizeof(int));
	if (!filler || !fds)
		return 1;
	memset(filler, ' ', body);
	print_memory(argv[2], "before");
	int sent = 0, refused = 0;
	for (int i = 0; i < nconn; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof(sa))) {
			refused++;
			continue;
		}
		char head[512];
		int n = snprintf(head, sizeof(head),
				 "POST /v1/maps/m/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
				 "%s%s%sContent-Length: %zu\r\n\r\n",
				 token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "", body);
		/* all but the last byte: the request stays incomplete and its body held, if kept */
		if (send_all(fds[i], head, (size_t)n) || send_all(fds[i], filler, body - 1))
			refused++;
		else
			sent++;
	}
	sleep(1);
	printf("%d connections sent %zu-byte bodies but for one byte (%d refused or cut)\n", sent, body,
	       refused);
	print_memory(argv[2], "while they wait");
	for (int i = 0; i < nconn; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	free(filler);
	return 0;
}
