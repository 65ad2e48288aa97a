/* A region for the jansson values of one short command: allocating moves a pointer in a
 * block of the calling thread, freeing does nothing, and the whole region goes at once. */
#include "json_arena.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "error.h"

/* Address space reserved once; a page costs memory only when a value is put in it. */
#define ARENA_SPAN ((size_t)1 << (sizeof(void *) > 4 ? 34 : 28))
/* What a thread takes from the region at a time: threads never share a cache line. */
#define ARENA_BLOCK ((size_t)1 << 20)
/* Larger values (long strings, big arrays' tables) go to malloc, and back to free. */
#define ARENA_LARGE ((size_t)1 << 16)
#define ARENA_ALIGN ((size_t)16)

static char *arena_base;
static atomic_size_t arena_used;
static atomic_uint arena_generation;
static _Thread_local char *block_next, *block_end;
static _Thread_local unsigned block_generation;

static int in_arena(const void *p)
{
	return arena_base && (uintptr_t)p - (uintptr_t)arena_base < ARENA_SPAN;
}

static void *arena_malloc(size_t size)
{
	size = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	if (size > ARENA_LARGE)
		return malloc(size);
	unsigned generation = atomic_load_explicit(&arena_generation, memory_order_relaxed);
	if (block_generation != generation || (size_t)(block_end - block_next) < size) {
		size_t at = atomic_fetch_add_explicit(&arena_used, ARENA_BLOCK, memory_order_relaxed);
		if (at > ARENA_SPAN - ARENA_BLOCK)
			return malloc(size); /* the region is full: the rest as usual */
		block_next = arena_base + at;
		block_end = block_next + ARENA_BLOCK;
		block_generation = generation;
	}
	void *p = block_next;
	block_next += size;
	return p;
}

static void arena_free(void *p)
{
	/* values made before the region, or too large for it, came from malloc */
	if (!in_arena(p))
		free(p);
}

/* AddressSanitizer checks each value's life only when each has its own malloc */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

int umap_json_arena_begin(void)
{
	if (UNDER_ASAN)
		return 0;
	if (arena_base)
		return umap_error_set(UMAP_EUSAGE, "umap_json_arena_begin: a region is in use");
	void *base = mmap(NULL, ARENA_SPAN, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return 0; /* no room to reserve (strict overcommit): values use malloc, as before */
	arena_base = base;
	atomic_store(&arena_used, 0);
	atomic_fetch_add(&arena_generation, 1);
	json_set_alloc_funcs(arena_malloc, arena_free);
	return 0;
}

void umap_json_arena_end(void)
{
	if (!arena_base)
		return;
	json_set_alloc_funcs(malloc, free);
	munmap(arena_base, ARENA_SPAN);
	arena_base = NULL;
	block_next = block_end = NULL;
}
