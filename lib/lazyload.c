/* Loads libgit2, libcurl and libmicrohttpd on their first use, for the stubs that
 * scripts/lazy-stubs.sh generates (see there for why); built only where those stubs are. */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

/* As laid out by the generated assembly: four pointer-sized words. */
struct umap_lazy_lib {
	const char *soname;
	size_t count;
	const char *const *names;
	void **ptrs; /* each stub jumps through its own; first to the stub's way here */
};

void umap_lazy_resolve(struct umap_lazy_lib *lib, size_t index);

static pthread_mutex_t lazy_lock = PTHREAD_MUTEX_INITIALIZER;

/* Points every stub of `lib` at its function; `index` is the one being called. This is the
 * dynamic linker's work done late, and fails as it does: a library that was there at build
 * time and is gone now ends the process with a message, for no caller can be told (lib/
 * otherwise never prints nor exits). */
void umap_lazy_resolve(struct umap_lazy_lib *lib, size_t index)
{
	pthread_mutex_lock(&lazy_lock);
	void *handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		fprintf(stderr, "fatal: cannot load %s: %s\n", lib->soname, dlerror());
		_exit(128);
	}
	for (size_t i = 0; i < lib->count; i++) {
		void *fn = dlsym(handle, lib->names[i]);
		if (fn)
			lib->ptrs[i] = fn;
		else if (i == index) {
			fprintf(stderr, "fatal: %s has no %s\n", lib->soname, lib->names[i]);
			_exit(128);
		}
	}
	pthread_mutex_unlock(&lazy_lock);
}
