/* A growable byte buffer, the one way libumapsync builds strings and output.
 * Every function that can allocate returns 0 or UMAP_ENOMEM. */
#ifndef UMAP_BUF_H
#define UMAP_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct umap_buf {
	char *ptr;   /* always NUL-terminated once anything was added */
	size_t len;
	size_t cap;
} umap_buf;

#define UMAP_BUF_INIT { NULL, 0, 0 }

int umap_buf_grow(umap_buf *buf, size_t extra);
int umap_buf_put(umap_buf *buf, const void *data, size_t len);
int umap_buf_puts(umap_buf *buf, const char *str);
int umap_buf_putc(umap_buf *buf, char c);
int umap_buf_printf(umap_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int umap_buf_vprintf(umap_buf *buf, const char *fmt, va_list ap);
void umap_buf_clear(umap_buf *buf);
/* Hands the string to the caller (who frees it) and resets the buffer. */
char *umap_buf_detach(umap_buf *buf);
void umap_buf_dispose(umap_buf *buf);

#endif
