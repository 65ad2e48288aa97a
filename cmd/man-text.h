/* The manual pages as plain text, built into the binary (scripts/man-text.sh renders the
 * pages of man/ at build time): what `umapsync help CMD` prints where man cannot show one. */
#ifndef UMAPSYNC_MAN_TEXT_H
#define UMAPSYNC_MAN_TEXT_H

struct man_text {
	const char *name; /* "umapsync-diff", "umapsync" */
	const char *text;
};

/* Every page, ending with a NULL name. */
extern const struct man_text man_texts[];

#endif
