/* Long output (log, diff, show) goes through a pager when stdout is a terminal, as in git.
 * UMAPSYNC_PAGER, then PAGER, then "less" with LESS=FRX; "cat" or "" turns it off. */
#include "builtin.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int pager_disabled;
static pid_t pager_pid;

static void wait_for_pager(void)
{
	if (pager_pid <= 0)
		return;
	fflush(stdout);
	fflush(stderr);
	/* Closing our end tells the pager the output is complete. */
	close(STDOUT_FILENO);
	close(STDERR_FILENO);
	while (waitpid(pager_pid, NULL, 0) < 0 && errno == EINTR)
		;
	pager_pid = 0;
}

static const char *pager_command(void)
{
	const char *pager = getenv("UMAPSYNC_PAGER");
	if (!pager)
		pager = getenv("PAGER");
	if (!pager)
		pager = "less";
	if (!*pager || !strcmp(pager, "cat"))
		return NULL;
	return pager;
}

void setup_pager(void)
{
	if (pager_disabled || pager_pid > 0 || !isatty(STDOUT_FILENO))
		return;
	const char *pager = pager_command();
	if (!pager)
		return;
	int fds[2];
	if (pipe(fds) < 0)
		return; /* no pager is better than no output */
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		dup2(fds[0], STDIN_FILENO);
		close(fds[0]);
		close(fds[1]);
		setenv("LESS", "FRX", 0);
		execl("/bin/sh", "sh", "-c", pager, (char *)NULL);
		_exit(127);
	}
	/* Colour decisions were made for the terminal; the pager shows them as they are. */
	setenv("UMAPSYNC_PAGER_IN_USE", "1", 1);
	dup2(fds[1], STDOUT_FILENO);
	if (isatty(STDERR_FILENO))
		dup2(fds[1], STDERR_FILENO);
	close(fds[0]);
	close(fds[1]);
	pager_pid = pid;
	atexit(wait_for_pager);
}

int pager_in_use(void)
{
	return pager_pid > 0;
}
