/* Loads libgit2, libcurl, libmicrohttpd, SQLite, libcrypto and zlib on their first use, for
 * the stubs that scripts/lazy-stubs.sh generates (see there for why); built only there. */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

/* As laid out by the generated assembly: four pointer-sized words. */
struct umap_lazy_lib {
	const char *soname;
	const char *const *names;
	void **ptrs;  /* each stub jumps through its own; first to the stub's way here */
	void *handle; /* from dlopen, once loaded */
};

void umap_lazy_resolve(struct umap_lazy_lib *lib, size_t index);

static pthread_mutex_t lazy_lock = PTHREAD_MUTEX_INITIALIZER;

/* Points the stub being called, `index` of `lib`, at its function, loading the library on
 * the first call into it. Only that stub: libcrypto exports 5,000 functions, and looking
 * them all up cost `status`, which calls a few, 2 ms a run. This is the dynamic
 * linker's work done late, and fails as it does: a library that was there at build time
 * and is gone now ends the process with a message, for no caller can be told (lib/
 * otherwise never prints nor exits). */
void umap_lazy_resolve(struct umap_lazy_lib *lib, size_t index)
{
	pthread_mutex_lock(&lazy_lock);
	if (!lib->handle && !(lib->handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL))) {
		fprintf(stderr, "fatal: cannot load %s: %s\n", lib->soname, dlerror());
		_exit(128);
	}
	void *fn = dlsym(lib->handle, lib->names[index]);
	if (!fn) {
		fprintf(stderr, "fatal: %s has no %s\n", lib->soname, lib->names[index]);
		_exit(128);
	}
	/* other threads may be jumping through it: one aligned store, seen whole */
	__atomic_store_n(&lib->ptrs[index], fn, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&lazy_lock);
}
