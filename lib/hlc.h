/* Hybrid logical clocks (Kulkarni et al., "Logical Physical Clocks", 2014) for sync ops:
 * 48-bit milliseconds + counter + node id, written in uMap's "WALLTIME:NN:ID" form. */
#ifndef UMAP_HLC_H
#define UMAP_HLC_H

#include <stddef.h>
#include <stdint.h>

/* The encoded form is uMap's (journal/hlc.js): "WALLTIME:NN:NODE", decimal milliseconds
 * since the Unix epoch, the decimal counter without padding, then the node id. String order
 * is NOT time order ("…:10:a" < "…:9:a"): times are compared parsed (umap_hlc_compare,
 * umap_hlc_compare_str), never with strcmp(). Our former form "MMMMMMMMMMMM-CCCC-NODE"
 * (12 and 4 lower-case hex digits) is still read, so logs written before keep working. */
#define UMAP_HLC_NODE_MAX 64                        /* bytes of [A-Za-z0-9_-] */
#define UMAP_HLC_STR_MAX (20 + 1 + 10 + 1 + UMAP_HLC_NODE_MAX + 1)
#define UMAP_HLC_COUNTER_MAX 0xffffu  /* we issue at most this; uMap's larger ones are read */
#define UMAP_HLC_MS_MAX ((UINT64_C(1) << 48) - 1)
#define UMAP_HLC_MAX_DRIFT_MS 60000                /* remote times further ahead are refused */

typedef struct umap_hlc_ts {
	uint64_t ms;       /* logical milliseconds (>= the physical clock that produced it) */
	uint32_t counter;  /* orders events within one logical millisecond */
	char node[UMAP_HLC_NODE_MAX + 1];
} umap_hlc_ts;

/* Physical clock in milliseconds since the epoch; injectable so tests can make time stand
 * still, jump or go backwards. */
typedef uint64_t (*umap_hlc_clock_fn)(void *ctx);

typedef struct umap_hlc {
	uint64_t ms;
	uint32_t counter;
	char node[UMAP_HLC_NODE_MAX + 1];
	umap_hlc_clock_fn clock;
	void *clock_ctx;
	uint64_t max_drift_ms; /* UMAP_HLC_MAX_DRIFT_MS unless changed after init */
} umap_hlc;

/* The system's real-time clock in milliseconds. */
uint64_t umap_hlc_system_clock(void *ctx);

/* A node id is 1..UMAP_HLC_NODE_MAX bytes of [A-Za-z0-9_-]. Returns 1 when `node` is one. */
int umap_hlc_valid_node(const char *node);

/* Starts a clock at zero for `node`; clock NULL means umap_hlc_system_clock. */
int umap_hlc_init(umap_hlc *hlc, const char *node, umap_hlc_clock_fn clock, void *clock_ctx);
/* Restores the last time a clock issued (e.g. read back from disk), so a restarted node
 * never issues a time lower than one it issued before. Only moves the clock forward. */
void umap_hlc_restore(umap_hlc *hlc, const umap_hlc_ts *last);

/* Send (or local event) rule: a time greater than every time this clock issued or received. */
int umap_hlc_now(umap_hlc_ts *out, umap_hlc *hlc);
/* Receive rule: merges a remote time, then issues a time greater than both. A remote time
 * more than max_drift_ms ahead of the physical clock is refused with UMAP_EINVALID and the
 * clock is left unchanged, so one peer with a wrong clock cannot drag everyone forward. */
int umap_hlc_recv(umap_hlc_ts *out, umap_hlc *hlc, const umap_hlc_ts *remote);
/* UMAP_EINVALID with a message when `ts` is more than max_drift_ms ahead of now_ms. */
int umap_hlc_check_drift(const umap_hlc_ts *ts, uint64_t now_ms, uint64_t max_drift_ms);

/* Orders by milliseconds, then counter, then node id (the tie-break between nodes). */
int umap_hlc_compare(const umap_hlc_ts *a, const umap_hlc_ts *b);
/* Compares two encoded times (either form) by their parsed value; a string that does not
 * parse sorts before every one that does, and two such strings compare as bytes. NULL
 * sorts first. The order for op logs and last-writer-wins. */
int umap_hlc_compare_str(const char *a, const char *b);
/* Writes uMap's form "WALLTIME:NN:NODE"; returns its length. */
size_t umap_hlc_encode(char out[UMAP_HLC_STR_MAX], const umap_hlc_ts *ts);
/* Parses uMap's form (an empty NN is 0, as hlc.js reads it) or our former hex form, strictly:
 * decimal digits within 48 bits of milliseconds and 32 bits of counter, a valid node id. */
int umap_hlc_decode(umap_hlc_ts *out, const char *str);
/* umap_hlc_decode without an error message: 0, or -1 when `str` is no time. */
int umap_hlc_parse(umap_hlc_ts *out, const char *str);

#endif
