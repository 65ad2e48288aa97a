/* A growable byte buffer.
 * Sizes are checked for overflow so that a huge input fails with ENOMEM rather than wrapping. */
#include "buf.h"
#include "error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int umap_buf_grow(umap_buf *buf, size_t extra)
{
	if (extra > SIZE_MAX - buf->len - 1)
		return umap_error_set(UMAP_ENOMEM, "out of memory: buffer size overflow");
	size_t need = buf->len + extra + 1;
	if (need <= buf->cap)
		return 0;
	size_t cap = buf->cap ? buf->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	char *ptr = realloc(buf->ptr, cap);
	if (!ptr)
		return umap_error_set(UMAP_ENOMEM, "out of memory (%zu bytes)", cap);
	buf->ptr = ptr;
	buf->cap = cap;
	return 0;
}

int umap_buf_put(umap_buf *buf, const void *data, size_t len)
{
	if (umap_buf_grow(buf, len))
		return UMAP_ENOMEM;
	if (len)
		memcpy(buf->ptr + buf->len, data, len);
	buf->len += len;
	buf->ptr[buf->len] = '\0';
	return 0;
}

int umap_buf_puts(umap_buf *buf, const char *str)
{
	return umap_buf_put(buf, str, strlen(str));
}

int umap_buf_putc(umap_buf *buf, char c)
{
	return umap_buf_put(buf, &c, 1);
}

int umap_buf_vprintf(umap_buf *buf, const char *fmt, va_list ap)
{
	va_list copy;
	va_copy(copy, ap);
	int n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return umap_error_set(UMAP_ERROR, "bad format string");
	if (umap_buf_grow(buf, (size_t)n))
		return UMAP_ENOMEM;
	vsnprintf(buf->ptr + buf->len, (size_t)n + 1, fmt, ap);
	buf->len += (size_t)n;
	return 0;
}

int umap_buf_printf(umap_buf *buf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = umap_buf_vprintf(buf, fmt, ap);
	va_end(ap);
	return rc;
}

void umap_buf_clear(umap_buf *buf)
{
	buf->len = 0;
	if (buf->ptr)
		buf->ptr[0] = '\0';
}

char *umap_buf_detach(umap_buf *buf)
{
	char *ptr = buf->ptr;
	if (!ptr)
		ptr = calloc(1, 1);
	buf->ptr = NULL;
	buf->len = buf->cap = 0;
	return ptr;
}

void umap_buf_dispose(umap_buf *buf)
{
	free(buf->ptr);
	buf->ptr = NULL;
	buf->len = buf->cap = 0;
}
