/* Per-thread error messages for libumapsync.
 * The message is fixed-size so that reporting an error can never itself fail. */
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define UMAP_ERROR_MAX 1024

static _Thread_local char error_message[UMAP_ERROR_MAX];
static _Thread_local int error_code;

int umap_error_setv(int code, const char *fmt, va_list ap)
{
	vsnprintf(error_message, sizeof(error_message), fmt, ap);
	error_code = code;
	return code;
}

int umap_error_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	umap_error_setv(code, fmt, ap);
	va_end(ap);
	return code;
}

int umap_error_set_errno(int code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	umap_error_setv(code, fmt, ap);
	va_end(ap);
	size_t len = strlen(error_message);
	snprintf(error_message + len, sizeof(error_message) - len, ": %s", strerror(saved));
	errno = saved;
	return code;
}

int umap_error_prefix(int code, const char *fmt, ...)
{
	char old[UMAP_ERROR_MAX];
	memcpy(old, error_message, sizeof(old));
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(error_message, sizeof(error_message), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(error_message))
		snprintf(error_message + n, sizeof(error_message) - n, "%s", old);
	error_code = code;
	return code;
}

const char *umap_error_last(void)
{
	if (!error_message[0])
		return error_code ? umap_error_name(error_code) : "no error";
	return error_message;
}

int umap_error_last_code(void)
{
	return error_code;
}

void umap_error_clear(void)
{
	error_message[0] = '\0';
	error_code = 0;
}

const char *umap_error_name(int code)
{
	switch (code) {
	case UMAP_OK: return "success";
	case UMAP_ENOMEM: return "out of memory";
	case UMAP_EIO: return "input/output error";
	case UMAP_ENOTFOUND: return "not found";
	case UMAP_EINVALID: return "invalid input";
	case UMAP_ELIMIT: return "limit exceeded";
	case UMAP_ECONFLICT: return "conflict";
	case UMAP_EEXISTS: return "already exists";
	case UMAP_ECORRUPT: return "corrupt data";
	case UMAP_EUSAGE: return "invalid arguments";
	case UMAP_EAUTH: return "not authorised";
	case UMAP_ENET: return "network error";
	case UMAP_ENOSPC: return "no space left";
	default: return "error";
	}
}
